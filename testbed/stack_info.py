"""What a running stack is: ``stack.json`` (docs/conventions.md section 14), and the
errors a stack raises.

The supervisor writes one :class:`StackInfo` when the stack is up; every command that
drives a running stack reads it back with :func:`load_stack_info`. Each target in it is
a ``testbed.target.TargetInfo``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from testbed.ledger import private_dir
from testbed.target import TargetInfo

SCHEMA_VERSION = 2  # 2: each target records its name and app_deadline_s
STACK_DIR = Path(".stack")
STACK_JSON = STACK_DIR / "stack.json"


class StackError(RuntimeError):
    """The stack could not start; the message names the part and what to do."""


class NoStackError(StackError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"no stack running: run make up (no {path})")


@dataclass
class StackInfo:
    started_at: str
    supervisor_pid: int
    time_scale: float
    workers: int
    log_dir: str
    database: dict[str, str]
    amqp_url: str | None
    targets: dict[str, TargetInfo]
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        ordered = {"schema_version": data.pop("schema_version"), **data}
        return json.dumps(ordered, indent=2)

    @classmethod
    def from_json(cls, text: str) -> StackInfo:
        data = json.loads(text)
        if data.get("schema_version") != SCHEMA_VERSION:
            raise StackError(
                f"stack.json has schema_version {data.get('schema_version')!r}, expected "
                f"{SCHEMA_VERSION}: run make down && make up"
            )
        data["targets"] = {k: TargetInfo.from_dict(v, k) for k, v in data["targets"].items()}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, path: Path = STACK_JSON) -> None:
        """Atomically, mode 0600 in a 0700 directory: it holds the admin tokens."""
        private_dir(path.parent)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)  # a leftover could carry wider permissions
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.to_json())
        tmp.replace(path)  # readers never see half a file


def load_stack_info(path: Path = STACK_JSON) -> StackInfo:
    """The running stack's info, or :class:`NoStackError` ("no stack running: run make up")."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise NoStackError(path) from None
    return StackInfo.from_json(text)
