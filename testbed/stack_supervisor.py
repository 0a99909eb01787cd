"""The detached process behind ``make up``: boots the stack, holds it, stops it on SIGTERM.

``python -m harness up`` starts ``python -m testbed.stack_supervisor`` in its own session
and returns once ``.stack/stack.json`` is written; ``make down`` sends SIGTERM. The
supervisor owns every process of the stack through one :class:`ProcessGroup`, so a
SIGTERM/SIGINT (or a boot failure) stops them all. It also records every child's pid in
``.stack/processes.json`` so ``down`` can SIGKILL leftovers if the supervisor itself is
killed hard; the ledger (:mod:`testbed.ledger`) covers a kill mid-boot too, databases and
temporary directories included, and ``down`` reaps it.

State files (all under the state directory, default ``.stack``):
``supervisor.pid`` (written by ``up``), ``stack.json`` (after boot, docs/conventions.md §14),
``processes.json`` (children), ``logs/`` (one log per process, ``supervisor.log``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import psutil

from testbed.ledger import private_dir
from testbed.processes import ProcessGroup
from testbed.stack import REPO_ROOT, start_stack
from testbed.stack_config import StackConfig
from testbed.stack_info import StackError
from testbed.targets import parse_targets

SUPERVISOR_MODULE = "testbed.stack_supervisor"


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def pid(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def stack_json(self) -> Path:
        return self.root / "stack.json"

    @property
    def processes(self) -> Path:
        return self.root / "processes.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def supervisor_log(self) -> Path:
        return self.logs / "supervisor.log"


# ---- bookkeeping shared with `up` / `down` ----------------------------------------------


def identity(pid: int) -> dict[str, float | int] | None:
    try:
        return {"pid": pid, "create_time": psutil.Process(pid).create_time()}
    except psutil.Error:
        return None


def same_process_alive(record: dict[str, float | int]) -> bool:
    """True when ``record``'s pid is alive and is the same process (not a reused pid)."""
    try:
        process = psutil.Process(int(record["pid"]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - float(record["create_time"])) < 0.01
    except psutil.Error:
        return False


def running_supervisor(paths: StatePaths) -> int | None:
    """The pid of the live supervisor of ``paths``, or None (stale files do not count)."""
    try:
        record = json.loads(paths.pid.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(record, dict) or not same_process_alive(record):
        return None
    return int(record["pid"])


def recorded_children(paths: StatePaths) -> list[dict[str, float | int]]:
    try:
        return list(json.loads(paths.processes.read_text()))
    except (FileNotFoundError, ValueError):
        return []


def spawn(paths: StatePaths, argv_tail: list[str]) -> subprocess.Popen[bytes]:
    """Start the supervisor detached (own session) and record its pid.

    Not in the ledger: the supervisor outlives ``up`` on purpose; it is an owner itself.
    """
    private_dir(paths.root)  # stack.json holds the admin tokens
    paths.logs.mkdir(parents=True, exist_ok=True)
    with paths.supervisor_log.open("ab") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", SUPERVISOR_MODULE, "--state-dir", str(paths.root), *argv_tail],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    record = identity(popen.pid) or {"pid": popen.pid, "create_time": 0.0}
    paths.pid.write_text(json.dumps(record))
    return popen


def kill_leftovers(paths: StatePaths) -> int:
    """SIGKILL every recorded child still alive (each leads its own process group)."""
    killed = 0
    for record in recorded_children(paths):
        if same_process_alive(record):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(record["pid"]), signal.SIGKILL)
            killed += 1
    return killed


def wait_gone(records: list[dict[str, float | int]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(same_process_alive(r) for r in records):
            return True
        time.sleep(0.1)
    return not any(same_process_alive(r) for r in records)


def clear_state(paths: StatePaths) -> None:
    for path in (paths.stack_json, paths.processes, paths.pid):
        path.unlink(missing_ok=True)


# ---- the supervisor itself ---------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {SUPERVISOR_MODULE}")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--targets", default="legacy,refactored")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lb-port", type=int, default=0, help="first target's LB port")
    return parser.parse_args(argv)


def _log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"{stamp} supervisor[{os.getpid()}]: {message}", flush=True)


def _record_children(paths: StatePaths, group: ProcessGroup) -> None:
    records = [r for p in group.processes if p.alive() and (r := identity(p.pid))]
    tmp = paths.processes.with_suffix(".tmp")
    tmp.write_text(json.dumps(records))
    tmp.replace(paths.processes)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    paths = StatePaths(args.state_dir.resolve())
    targets = parse_targets(args.targets)
    lb_ports = {t: args.lb_port + i for i, t in enumerate(targets)} if args.lb_port else {}
    config = StackConfig(
        targets=targets,
        time_scale=args.time_scale,
        workers=args.workers,
        seed=args.seed,
        log_dir=paths.logs,
        lb_ports=lb_ports,
    )
    _log(f"booting {', '.join(targets)} (TIME_SCALE={args.time_scale}, workers={args.workers})")
    exit_code = 0
    try:
        with ProcessGroup(paths.logs) as group:
            try:
                info = start_stack(group, config)
            finally:
                _record_children(paths, group)  # so `down` can reap them even mid-boot
            info.write(paths.stack_json)
            _log(f"stack ready: {paths.stack_json}")
            reported: set[str] = set()
            while True:  # SIGTERM/SIGINT raise KeyboardInterrupt (ProcessGroup's handlers)
                time.sleep(1.0)
                for process in group.processes:
                    if not process.alive() and process.name not in reported:
                        reported.add(process.name)
                        _log(f"WARNING {process.name} exited; see {process.log_path}")
    except KeyboardInterrupt:
        _log("stopping (signal received)")
    except StackError as exc:
        _log(f"ERROR {exc}")
        exit_code = 1
    except Exception:
        _log(f"ERROR unexpected failure while booting:\n{traceback.format_exc()}")
        exit_code = 1
    finally:
        paths.stack_json.unlink(missing_ok=True)
        paths.processes.unlink(missing_ok=True)
        _log("every process stopped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
