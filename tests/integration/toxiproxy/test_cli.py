"""The server's command line: loopback only, clear errors, toxiproxy-server's flags."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from testbed.net import free_port
from testbed.processes import ProcessGroup

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "doubles.toxiproxy", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_port_in_use_is_a_clear_error_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("--port", str(taken.getsockname()[1]))
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1" in result.stderr
    assert "--port" in result.stderr


def test_non_loopback_host_is_refused() -> None:
    result = run_cli("--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2
    assert "--allow-non-loopback" in result.stderr


def test_single_dash_flags_start_a_working_server(processes: ProcessGroup) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "doubles.toxiproxy", "-host", "127.0.0.1", "-port", str(port)]
    server = processes.start("toxiproxy-dash", argv, cwd=REPO)
    server.wait_http(f"http://127.0.0.1:{port}/version")
    assert httpx.get(f"http://127.0.0.1:{port}/proxies").json() == {}


def test_config_file_creates_proxies_at_start(processes: ProcessGroup, tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "db", "listen": listen, "upstream": "127.0.0.1:5432"}]))
    port = free_port()
    argv = [sys.executable, "-m", "doubles.toxiproxy", "--port", str(port), "-config", str(config)]
    processes.start("toxiproxy-config", argv, cwd=REPO).wait_http(
        f"http://127.0.0.1:{port}/version"
    )
    proxy = httpx.get(f"http://127.0.0.1:{port}/proxies/db").json()
    assert (proxy["listen"], proxy["enabled"]) == (listen, True)


def test_bad_config_file_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "proxies.json"
    config.write_text('{"name": "not a list"}')
    result = run_cli("--port", str(free_port()), "--config", str(config))
    assert result.returncode == 1
    assert "must hold a JSON list of proxies" in result.stderr
    config.write_text('[{"name": "no upstream"}]')
    result = run_cli("--port", str(free_port()), "--config", str(config))
    assert result.returncode == 1
    assert "missing required field: upstream at proxy 1" in result.stderr


def test_the_server_runs_on_uvloop_when_it_is_installed(processes: ProcessGroup) -> None:
    # uvloop comes with uvicorn[standard]; the proxies' streams must then run on it (a third
    # less CPU per forwarded round trip, docs/performance.md): its extension is mapped
    pytest.importorskip("uvloop")
    port = free_port()
    argv = [sys.executable, "-m", "doubles.toxiproxy", "--port", str(port)]
    server = processes.start("toxiproxy-uvloop", argv, cwd=REPO)
    server.wait_http(f"http://127.0.0.1:{port}/version")
    maps = Path(f"/proc/{server.pid}/maps")
    if not maps.exists():
        pytest.skip("no /proc on this platform")
    assert "uvloop/loop." in maps.read_text()
