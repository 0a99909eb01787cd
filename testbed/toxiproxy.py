"""Start a Toxiproxy server as a managed child process (tests, the stack, the benches).

``toxiproxy-server`` when asked for and on PATH (``real=True``), else the bundled
Toxiproxy-compatible server (``python -m doubles.toxiproxy``); either way ``/version``
answers before this returns, and the process stops with its group.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from testbed.net import LOOPBACK, free_port
from testbed.processes import ManagedProcess, ProcessGroup

_REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ToxiproxyHandle:
    url: str  # http://127.0.0.1:P
    host: str
    port: int
    seed: int
    process: ManagedProcess
    kind: str = "embedded"  # "embedded" (doubles.toxiproxy) or "real" (toxiproxy-server)


def start_toxiproxy(
    group: ProcessGroup,
    port: int | None = None,
    seed: int = 0,
    name: str = "toxiproxy",
    timeout: float = 30.0,
    *,
    real: bool = False,
) -> ToxiproxyHandle:
    """Start a Toxiproxy in ``group`` on loopback and wait until ``/version`` answers
    (``NotReadyError`` naming its log otherwise)."""
    port = port if port is not None else free_port()
    binary = shutil.which("toxiproxy-server") if real else None
    if binary:
        argv = [binary, "-host", LOOPBACK, "-port", str(port), "-seed", str(seed)]
        process = group.start(name, argv)
    else:
        argv = [sys.executable, "-m", "doubles.toxiproxy", "--host", LOOPBACK]
        argv += ["--port", str(port), "--seed", str(seed)]
        # from the repository root so `-m doubles.toxiproxy` resolves whatever the cwd
        process = group.start(name, argv, cwd=_REPO_ROOT)
    url = f"http://{LOOPBACK}:{port}"
    process.wait_http(f"{url}/version", timeout=timeout)
    return ToxiproxyHandle(url, LOOPBACK, port, seed, process, "real" if binary else "embedded")
