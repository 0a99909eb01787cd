"""Start, watch and always stop the processes the harness launches.

Every child runs in its own session (process group) so that stopping it also
stops whatever it forked (gunicorn workers, Caddy, postgres backends). A
:class:`ProcessGroup` stops its children in reverse start order on exit, on an
exception and on SIGINT/SIGTERM, so a failing test or Ctrl-C leaves no orphan.

A SIGKILL runs none of that. Two lines of defence cover it: every child asks the kernel
for a parent-death signal (its stop signal when the harness dies), and every child is
recorded in the ledger (:mod:`testbed.ledger`) as it starts, so the next start or
``make down`` reaps any group still alive (:mod:`testbed.reaper`). The first group a
process opens runs that reap.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from testbed import ledger
from testbed.net import NotReadyError, wait_for_http, wait_for_port
from testbed.reaper import reap_once_per_process


class MissingBinaryError(RuntimeError):
    """A binary the harness needs is not installed."""


def require_binary(name: str, hint: str) -> str:
    """Return the path of ``name`` on PATH (or beside this Python), or fail with ``hint``."""
    venv_bin = Path(sys.executable).parent / name
    if venv_bin.exists():
        return str(venv_bin)
    found = shutil.which(name)
    if not found:
        raise MissingBinaryError(f"'{name}' not found on PATH. {hint}")
    return found


# ---- parent-death signal ------------------------------------------------------------------
# Hand-written with ctypes: neither subprocess nor psutil offers PR_SET_PDEATHSIG, and the
# python-prctl package would add a C extension for one call. Linux only; elsewhere the
# ledger alone reaps what a killed harness left.
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_spawner: tuple[int, ThreadPoolExecutor] | None = None
_spawner_lock = threading.Lock()


def _die_with(parent_pid: int, sig: int) -> Callable[[], None] | None:
    """A preexec_fn: the child gets ``sig`` when the harness dies (then exec's the program).

    ``HARNESS_PDEATHSIG=0`` turns it off: the test that proves the ledger alone reaps
    everything a SIGKILL left needs the children to outlive their harness.
    """
    if _LIBC is None or os.environ.get("HARNESS_PDEATHSIG", "").strip() == "0":
        return None
    prctl = _LIBC.prctl  # looked up here: the child, after fork, only calls it

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent_pid:  # the harness died before prctl took effect
            os._exit(1)

    return preexec


def _spawn(popen: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Run ``popen`` on one long-lived thread of this process.

    The kernel sends the parent-death signal when the *thread* that forked the child
    exits, not the process: children started from a short-lived thread (the stack boots
    its targets in a thread pool) would be killed as soon as that pool finished. This
    thread lives as long as the process (a fork gets its own).
    """
    global _spawner
    with _spawner_lock:
        if _spawner is None or _spawner[0] != os.getpid():
            _spawner = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="harness-spawn"))
        executor = _spawner[1]
    return executor.submit(popen).result()


@dataclass
class ManagedProcess:
    """One child process with its log file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)
    _ledger_key: str | None = field(default=None, init=False, repr=False)

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        log = self._log
        full_env = {**os.environ, **(self.env or {})}
        self.popen = _spawn(
            lambda: subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=self.cwd,
                user=self.user,
                start_new_session=True,
                # the stop signal, so a dying harness stops it as stop() would (gunicorn
                # takes its workers along, postgres its backends)
                preexec_fn=_die_with(os.getpid(), self.stop_signal),
            )
        )
        self._ledger_key = ledger.current().process_started(self.name, self.popen.pid, self.argv)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_http(self, url: str, timeout: float = 30.0, ok: tuple[int, ...] = (200,)) -> None:
        try:
            wait_for_http(url, timeout=timeout, ok=ok, alive=self.alive)
        except NotReadyError as exc:
            raise NotReadyError(
                f"{self.name}: {exc}\n--- last log lines ---\n{self.log_tail()}"
            ) from exc

    def wait_port(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise NotReadyError(f"{self.name} exited early\n{self.log_tail()}")
            with contextlib.suppress(NotReadyError):
                wait_for_port(port, timeout=0.5)
                return
        raise NotReadyError(
            f"{self.name}: port {port} not open after {timeout:.0f}s\n{self.log_tail()}"
        )

    def signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self, grace: float = 10.0) -> None:
        """Signal the whole process group (SIGTERM by default), SIGKILL after ``grace`` seconds."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal_group(self.stop_signal)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.popen.wait(timeout=5)
        # children that outlived their leader (same group) go too
        self.signal_group(signal.SIGKILL)
        if self._ledger_key is not None:
            ledger.current().released(self._ledger_key)
            self._ledger_key = None
        if self._log is not None:
            self._log.close()
            self._log = None


def remove_recorded_dir(path: Path, ledger_key: str) -> None:
    """Remove a directory recorded in the ledger, and strike it from there."""
    shutil.rmtree(path, ignore_errors=True)
    ledger.current().released(ledger_key)


class ProcessGroup(contextlib.AbstractContextManager["ProcessGroup"]):
    """Owns child processes; stops them all on exit, error or SIGINT/SIGTERM."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[ManagedProcess] = []
        self._cleanups: list[Callable[[], None]] = []
        self._previous_handlers: dict[int, object] = {}

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> ManagedProcess:
        process = ManagedProcess(
            name,
            argv,
            self.log_dir / f"{name}.log",
            env=env,
            cwd=cwd,
            user=user,
            stop_signal=stop_signal,
        )
        self.processes.append(process)
        return process.start()

    def temp_dir(self, prefix: str, what: str) -> Path:
        """A new temporary directory, in the ledger until the group stops and removes it."""
        path = Path(tempfile.mkdtemp(prefix=prefix))
        key = ledger.current().path_created(path, what)
        self.on_stop(lambda: remove_recorded_dir(path, key))
        return path

    def on_stop(self, cleanup: Callable[[], None]) -> None:
        """Register a cleanup that runs after the processes are stopped (reverse order)."""
        self._cleanups.append(cleanup)

    def __enter__(self) -> ProcessGroup:
        reap_once_per_process()  # what a killed run left, before this one starts anything
        self._install_signal_handlers()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()
        self._restore_signal_handlers()

    def stop_all(self) -> None:
        while self.processes:
            self.processes.pop().stop()
        while self._cleanups:
            with contextlib.suppress(Exception):
                self._cleanups.pop()()

    def _install_signal_handlers(self) -> None:
        # Only the main thread may set handlers; elsewhere the caller's own handling applies.
        if threading.current_thread() is not threading.main_thread():
            return

        def _raise(signum: int, _frame: FrameType | None) -> None:
            raise KeyboardInterrupt(f"received signal {signum}")

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, _raise)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous_handlers.clear()
