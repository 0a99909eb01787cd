"""The target a Locust run started by hand drives, from ``make up``'s stack.json.

``locust -f loadtests/locustfile.py --stack .stack/stack.json --target legacy`` reads the
file ``make up`` wrote (docs/conventions.md section 14, read by testbed.stack_info); the
target is a :class:`testbed.target.TargetInfo`, the type every engine uses (``make load``
hands the runner the booted stack's own).
"""

from __future__ import annotations

from pathlib import Path

from testbed.stack_info import StackError, StackInfo, load_stack_info
from testbed.target import TargetInfo


class StackFileError(StackError):
    """The stack file does not describe the wanted target; says what to do."""


def read_stack_file(path: Path) -> StackInfo:
    """``make up``'s stack.json (testbed.stack_info); :class:`StackError` says what to do."""
    try:
        return load_stack_info(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise StackFileError(
            f"{path} is not a stack file ({exc!r}): run make down && make up"
        ) from None


def target_in(info: StackInfo, name: str, path: Path) -> TargetInfo:
    """The target ``name`` of the stack read from ``path``; a wrong name lists the ones it has."""
    if name not in info.targets:
        raise StackFileError(
            f"{path} has no target {name!r}; it has: {', '.join(info.targets) or 'none'}"
        )
    return info.targets[name]


def target_for_host(info: StackInfo, host: str | None) -> str | None:
    """Which target of a stack has ``host`` as its LB (or service) URL, if any."""
    wanted = (host or "").rstrip("/")
    for name, target in info.targets.items():
        if wanted and wanted in (target.lb_url.rstrip("/"), target.service_url.rstrip("/")):
            return name
    return None
