"""The ledger: what each harness run starts, written down before or as it starts.

A run killed with SIGKILL runs no ``finally``; what it started (process groups, ``stack_*``
databases, temporary directories) would outlive it. So every run records each of them
here first, and the next start or ``make down`` reaps what a dead run left
(:mod:`testbed.reaper`).

One file per owner, the harness process that starts things: ``<dir>/<pid>-<start>.jsonl``
(``start`` is the owner's start time in clock ticks from ``/proc/<pid>/stat``,
:mod:`testbed.procfs`, so a recycled pid is never taken for the owner). JSON lines,
append-only, mode 0600, each line fsync'd as it is written; no two processes write the
same file, so concurrent runs need no lock. Records (``key`` identifies a thing within the file):

- ``{"kind": "owner", "pid", "start_time", "argv", "cwd", "at"}`` (first line)
- ``{"kind": "process", "key", "name", "pid", "start_time", "argv"}``: the pid leads its own
  process group (every child is started in a new session)
- ``{"kind": "database", "key", "name", "admin_url"}``: written *before* CREATE DATABASE;
  the URL carries no password
- ``{"kind": "path", "key", "path", "what", "admin_url"?}``: a temporary directory (an
  embedded PostgreSQL's data dir carries its server's admin URL)
- ``{"kind": "released", "key"}``: the owner stopped, dropped or removed it itself

Once everything recorded is released the owner deletes its file.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from testbed.procfs import is_running, proc_stat

LEDGER_ENV = "HARNESS_LEDGER_DIR"  # tests point it at a directory of their own
STATE_ROOT = Path(__file__).resolve().parents[1] / ".stack"
DEFAULT_DIR = STATE_ROOT / "ledger"
KINDS = ("process", "database", "path")


def ledger_dir() -> Path:
    """``$HARNESS_LEDGER_DIR`` or ``<repo>/.stack/ledger`` (whatever the working directory)."""
    raw = os.environ.get(LEDGER_ENV, "").strip()
    return Path(raw).resolve() if raw else DEFAULT_DIR


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700: state dirs hold tokens and pids."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


# ---- writing ----------------------------------------------------------------------------


class Ledger:
    """The ledger file of one owner (this process unless told otherwise); thread-safe."""

    def __init__(self, directory: Path, owner_pid: int | None = None) -> None:
        self.directory = directory
        self.owner_pid = owner_pid or os.getpid()
        stat = proc_stat(self.owner_pid)
        self.owner_start = stat.start_time if stat else 0
        self.path = directory / f"{self.owner_pid}-{self.owner_start}.jsonl"
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._open_keys: set[str] = set()
        # server (host:port) of each open database entry and embedded server's data dir:
        # removing an embedded server's data dir takes its databases with it
        self._server_of: dict[str, str] = {}

    def process_started(self, name: str, pid: int, argv: Sequence[str]) -> str:
        stat = proc_stat(pid)
        start = stat.start_time if stat else 0
        key = f"process:{pid}:{start}"
        record = {"name": name, "pid": pid, "start_time": start, "argv": list(argv)}
        self._record("process", key, record)
        return key

    def database_creating(self, name: str, admin_url: str) -> str:
        """Call before CREATE DATABASE (``admin_url`` without its password)."""
        key = f"database:{name}"
        self._record("database", key, {"name": name, "admin_url": admin_url})
        self._server_of[key] = urlsplit(admin_url).netloc
        return key

    def path_created(self, path: Path, what: str, admin_url: str | None = None) -> str:
        key = f"path:{path}"
        extra = {"admin_url": admin_url} if admin_url else {}
        self._record("path", key, {"path": str(path), "what": what, **extra})
        if admin_url:
            self._server_of[key] = urlsplit(admin_url).netloc
        return key

    def database_dropped(self, name: str) -> None:
        self.released(f"database:{name}")

    def released(self, key: str) -> None:
        """The owner stopped, dropped or removed ``key`` itself; the file goes when all are.

        Releasing an embedded server's data dir releases the databases it held too: they
        are gone with it, and a reaper could never reach their server again.
        """
        with self._lock:
            server = self._server_of.pop(key, None) if key.startswith("path:") else None
            gone = [k for k, s in self._server_of.items() if server and s == server]
            for released_key in (key, *gone):
                self._release_locked(released_key)

    def _release_locked(self, key: str) -> None:
        self._server_of.pop(key, None)
        if key not in self._open_keys:
            return
        self._write({"kind": "released", "key": key})
        self._open_keys.discard(key)
        if not self._open_keys and self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self.path.unlink(missing_ok=True)

    def _record(self, kind: str, key: str, fields: Mapping[str, Any]) -> None:
        with self._lock:
            self._write({"kind": kind, "key": key, **fields})
            self._open_keys.add(key)

    def _write(self, record: Mapping[str, Any]) -> None:
        if self._fd is None:
            self._open()
        assert self._fd is not None
        os.write(self._fd, (json.dumps(record) + "\n").encode())
        os.fsync(self._fd)

    def _open(self) -> None:
        try:
            if self.directory == DEFAULT_DIR:
                private_dir(STATE_ROOT)
            private_dir(self.directory)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise OSError(
                f"cannot write the ledger {self.path} ({exc.strerror or exc}): set "
                f"{LEDGER_ENV} to a writable directory"
            ) from exc
        owner = {
            "kind": "owner",
            "pid": self.owner_pid,
            "start_time": self.owner_start,
            "argv": sys.argv,
            "cwd": os.getcwd(),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.write(self._fd, (json.dumps(owner) + "\n").encode())
        os.fsync(self._fd)
        directory_fd = os.open(self.directory, os.O_RDONLY)  # the new name survives a crash
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)


_current: Ledger | None = None
_current_lock = threading.Lock()


def current() -> Ledger:
    """This process's ledger (a forked child gets its own: it is another owner)."""
    global _current
    with _current_lock:
        if _current is None or _current.owner_pid != os.getpid():
            _current = Ledger(ledger_dir())
        return _current


# ---- reading ----------------------------------------------------------------------------


@dataclass
class LedgerFile:
    """One owner's file as read back: what it still holds, and lines that made no sense."""

    path: Path
    owner: dict[str, Any] | None = None
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> record, in order
    problems: list[str] = field(default_factory=list)

    def owner_alive(self) -> bool:
        if self.owner is None:
            return True  # unknown owner: never reap on a guess
        return is_running(int(self.owner["pid"]), int(self.owner["start_time"]))

    def describe_owner(self) -> str:
        if self.owner is None:
            return "an unknown run"
        argv = [str(a) for a in self.owner.get("argv", [])] or ["?"]
        program = Path(argv[0])
        if program.name == "__main__.py":  # python -m <package>
            argv[0] = f"python -m {program.parent.name}"
        else:
            argv[0] = program.name
        shown = " ".join(argv)
        shown = shown if len(shown) <= 70 else shown[:67] + "..."
        return f"dead harness pid {self.owner['pid']}: {shown}"


def _valid(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    kind = record.get("kind")
    if kind == "owner":
        return isinstance(record.get("pid"), int) and isinstance(record.get("start_time"), int)
    if kind == "released":
        return isinstance(record.get("key"), str)
    required = {"process": ("pid", "start_time"), "database": ("name",), "path": ("path",)}
    return (
        kind in KINDS
        and isinstance(record.get("key"), str)
        and all(record.get(name) is not None for name in required[kind])
    )


def read_ledger(path: Path) -> LedgerFile:
    """Parse ``path``; a malformed line is reported in ``problems`` and skipped."""
    ledger = LedgerFile(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        ledger.problems.append(f"ledger {path}: unreadable ({exc}): skipped")
        return ledger
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not _valid(record):
            shown = line if len(line) <= 60 else line[:57] + "..."
            ledger.problems.append(
                f"ledger {path} line {number} is not a ledger record ({shown!r}): skipped"
            )
            continue
        if record["kind"] == "owner":
            ledger.owner = record
        elif record["kind"] == "released":
            _forget(ledger.entries, record["key"])
        else:
            ledger.entries[record["key"]] = record
    if ledger.owner is None:
        ledger.problems.append(f"ledger {path} names no owner: left alone (delete it by hand)")
    return ledger


def _forget(entries: dict[str, dict[str, Any]], key: str) -> None:
    """Strike ``key``; an embedded server's data dir takes the databases it held along
    (files written before the writer released them itself still read right)."""
    removed = entries.pop(key, None)
    server = urlsplit(removed.get("admin_url") or "").netloc if removed else ""
    if not server or removed is None or removed["kind"] != "path":
        return
    for other in [k for k, e in entries.items() if e["kind"] == "database"]:
        if urlsplit(str(entries[other].get("admin_url", ""))).netloc == server:
            del entries[other]


def append_released(path: Path, keys: Sequence[str]) -> None:
    """Mark ``keys`` of a dead owner's file as reaped (the reaper holds the file's lock)."""
    if not keys:
        return
    with path.open("a") as handle:
        handle.writelines(json.dumps({"kind": "released", "key": k}) + "\n" for k in keys)
        handle.flush()
        os.fsync(handle.fileno())
