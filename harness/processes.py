"""Start, watch and always stop the processes the harness launches.

Every child runs in its own session (process group) so that stopping it also
stops whatever it forked (gunicorn workers, Caddy, postgres backends). A
:class:`ProcessGroup` stops its children in reverse start order on exit, on an
exception and on SIGINT/SIGTERM, so a failing test or Ctrl-C leaves no orphan.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from harness.net import NotReadyError, wait_for_http, wait_for_port


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

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        full_env = {**os.environ, **(self.env or {})}
        self.popen = subprocess.Popen(
            list(self.argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=self.cwd,
            user=self.user,
            start_new_session=True,
        )
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
        if self._log is not None:
            self._log.close()
            self._log = None


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

    def on_stop(self, cleanup: Callable[[], None]) -> None:
        """Register a cleanup that runs after the processes are stopped (reverse order)."""
        self._cleanups.append(cleanup)

    def __enter__(self) -> ProcessGroup:
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
