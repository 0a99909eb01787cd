"""Start the Toxiproxy-compatible server as a managed child process (tests, the stack)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from testbed.net import free_port
from testbed.processes import ManagedProcess, ProcessGroup


@dataclass(frozen=True)
class ToxiproxyHandle:
    url: str  # http://127.0.0.1:P
    host: str
    port: int
    seed: int
    process: ManagedProcess


def start_toxiproxy(
    group: ProcessGroup,
    port: int | None = None,
    seed: int = 0,
    name: str = "toxiproxy",
    timeout: float = 30.0,
) -> ToxiproxyHandle:
    """Start ``python -m doubles.toxiproxy`` in ``group`` and wait until ``/version`` answers."""
    port = port if port is not None else free_port()
    argv = [
        sys.executable,
        "-m",
        "doubles.toxiproxy",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--seed",
        str(seed),
    ]
    # run from the repository root so `-m doubles.toxiproxy` resolves whatever the caller's cwd
    process = group.start(name, argv, cwd=Path(__file__).resolve().parents[1])
    url = f"http://127.0.0.1:{port}"
    process.wait_http(f"{url}/version", timeout=timeout)
    return ToxiproxyHandle(url, "127.0.0.1", port, seed, process)
