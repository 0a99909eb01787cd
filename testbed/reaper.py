"""Reap what dead harness runs left: the other half of :mod:`testbed.ledger`.

For each ledger file whose owner is dead (pid gone, or now another process), kill the
process groups it recorded that still run, drop the databases it recorded, remove its
temporary directories, say so one line per thing, and delete the file. A live owner's
file is never touched, so several runs (test sessions, a chaos run, ``make up``) can share
the ledger directory. Each file is locked while it is reaped, so two reapers never reap
the same run twice.

What is checked before acting, because a ledger is read back after a crash:

- a process group is killed only if its leader is the recorded process (pid *and* start
  time), or the leader is gone and members of its group, started after it, remain (the
  kernel never hands out a pid still in use as a process group id);
- a database is dropped only if its name is one the harness generates (``stack_<target>_
  <hex>``, ``nw_<hex>``); a server that no longer answers keeps it in the ledger;
- a path is removed only if it is one of the harness's ``ctxh-`` temporary directories.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from testbed.ledger import append_released, ledger_dir, read_ledger
from testbed.procfs import all_processes, proc_stat

Say = Callable[[str], None]
GENERATED_DATABASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*_[0-9a-f]{8,32}$")
TEMP_PREFIX = "ctxh-"
GONE_TIMEOUT_S = 5.0


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def reap_dead_runs(directory: Path | None = None, say: Say = _stderr) -> int:
    """Reap every dead owner's leftovers under ``directory``; return how many things."""
    directory = directory or ledger_dir()
    if not directory.is_dir():
        return 0
    reaped = 0
    for path in sorted(directory.glob("*.jsonl")):
        with _locked(path) as locked:
            if locked:
                reaped += _reap_file(path, say)
    return reaped


_reaped_in_this_process = False


def reap_once_per_process(say: Say = _stderr) -> None:
    """The "next start" reap: the first process group a run opens triggers it."""
    global _reaped_in_this_process
    if _reaped_in_this_process:
        return
    _reaped_in_this_process = True
    try:
        reap_dead_runs(say=say)
    except OSError as exc:  # a reap that cannot run must not stop the run that asked
        say(f"reap: could not read the ledger ({exc}); run make down to retry")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # never O_CREAT: a gone file stays gone
    except OSError:  # its owner finished, or another reaper deleted it
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another reaper has it
        os.close(fd)
        yield False
        return
    try:
        yield path.exists()
    finally:
        os.close(fd)


def _reap_file(path: Path, say: Say) -> int:
    ledger = read_ledger(path)
    if ledger.owner is not None and ledger.owner_alive():
        return 0  # a live run's file: not ours to judge (it may be mid-write)
    for problem in ledger.problems:
        say(f"reap: {problem}")
    if ledger.owner is None:
        return 0
    done: list[str] = []
    kept: list[str] = []
    reaped = 0
    embedded = {  # host:port of embedded servers: their databases go with their data dir
        urlsplit(e["admin_url"]).netloc
        for e in ledger.entries.values()
        if e.get("admin_url") and e["kind"] == "path"
    }
    order = ("process", "database", "path")  # kill first: a server's data dir goes last
    for kind in order:
        for key, entry in ledger.entries.items():
            if entry["kind"] != kind:
                continue
            outcome = _REAPERS[kind](entry, embedded)
            if outcome is None:
                done.append(key)
                continue
            verdict, what = outcome
            say(f"reap: {what} (left by {ledger.describe_owner()})")
            (kept if verdict == "failed" else done).append(key)
            reaped += verdict == "reaped"
    if kept:
        append_released(path, done)
    else:
        path.unlink(missing_ok=True)
    return reaped


# None: nothing was left; else ("reaped" | "skipped" | "failed", what happened)
Outcome = tuple[str, str] | None


def _reap_process(entry: dict[str, Any], _embedded: set[Any]) -> Outcome:
    pgid, start = int(entry["pid"]), int(entry["start_time"])
    name = f"{entry.get('name', '?')} (process group {pgid})"
    leader = proc_stat(pgid)
    if leader is not None and leader.state != "Z" and leader.start_time != start:
        return "skipped", f"left {name} alone: pid {pgid} now belongs to another process"
    members = _members(pgid, start)
    if not members:
        return None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while _members(pgid, start) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _members(pgid, start):
        return "failed", f"could not kill {name}: still running"
    argv = " ".join(str(a) for a in entry.get("argv", []))
    argv = argv if len(argv) <= 80 else argv[:77] + "..."
    return "reaped", f"killed {name}, {len(members)} process(es): {argv}"


def _members(pgid: int, leader_start: int) -> list[int]:
    return [
        p.pid
        for p in all_processes()
        if p.pgid == pgid and p.state != "Z" and p.start_time >= leader_start
    ]


def _reap_database(entry: dict[str, Any], embedded: set[Any]) -> Outcome:
    name, admin_url = str(entry["name"]), str(entry.get("admin_url", ""))
    if not GENERATED_DATABASE.match(name):
        return "skipped", f"left database {name!r} alone: not a name the harness generates"
    if urlsplit(admin_url).netloc in embedded:
        return None  # it lived in an embedded server's data dir, removed with it
    try:
        existed = _drop_database(_with_env_password(admin_url), name)
    except Exception as exc:  # psycopg2's errors: the server is down, or refuses
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return "failed", f"could not drop database {name} on {admin_url}: {first_line}; kept"
    return ("reaped", f"dropped database {name} on {admin_url}") if existed else None


def _drop_database(admin_url: str, name: str) -> bool:
    """DROP DATABASE ``name`` WITH (FORCE); False when it did not exist."""
    import psycopg2  # as testbed.postgres does: only the runs that need it pay the import

    try:
        connection = psycopg2.connect(admin_url, connect_timeout=5)
    except psycopg2.OperationalError:
        # the recorded URL may name a database dropped just before (a target's database
        # served as the admin URL of its next one): the maintenance database then
        parts = urlsplit(admin_url)
        maintenance = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
        connection = psycopg2.connect(maintenance, connect_timeout=5)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            existed = cursor.fetchone() is not None
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()
    return existed


def _with_env_password(recorded: str) -> str:
    """The recorded admin URL (its password redacted) with DATABASE_URL's password when
    that is the same server and user, else with none (PGPASSWORD / .pgpass may supply it):
    the ledger never holds a password."""
    env = os.environ.get("DATABASE_URL", "").strip()
    mine = urlsplit(recorded.replace("postgresql+psycopg2://", "postgresql://"))
    theirs = urlsplit(env)
    host = mine.netloc.rpartition("@")[2]
    same = bool(env) and (mine.hostname, mine.port, mine.username) == (
        theirs.hostname,
        theirs.port,
        theirs.username,
    )
    if same and theirs.password is not None:
        userinfo = theirs.netloc.rpartition("@")[0]
    else:
        userinfo = mine.username or ""
    netloc = f"{userinfo}@{host}" if userinfo else host
    return urlunsplit((mine.scheme, netloc, mine.path, mine.query, mine.fragment))


def _reap_path(entry: dict[str, Any], _embedded: set[Any]) -> Outcome:
    path = Path(str(entry["path"]))
    if path.parent != Path(tempfile.gettempdir()) or not path.name.startswith(TEMP_PREFIX):
        return "skipped", f"left {path} alone: not one of the harness's temporary directories"
    if not path.exists():
        return None
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        return "failed", f"could not remove {entry.get('what', 'directory')} {path}"
    return "reaped", f"removed {entry.get('what', 'directory')} {path}"


_REAPERS: dict[str, Callable[[dict[str, Any], set[Any]], Outcome]] = {
    "process": _reap_process,
    "database": _reap_database,
    "path": _reap_path,
}
