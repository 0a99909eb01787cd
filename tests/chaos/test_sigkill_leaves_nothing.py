"""A chaos run killed with SIGKILL mid-boot leaves nothing once ``python -m harness down`` ran.

The run gets no chance to clean up (no ``finally``, no signal handler). Its children's
parent-death signal is switched off here (``HARNESS_PDEATHSIG=0``), so what this proves is
the guarantee, the ledger: every process group it recorded is killed, every port they
listened on is closed, every database it created is dropped, every temp dir removed.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from testbed.ledger import LedgerFile, read_ledger
from testbed.procfs import all_processes

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
BOOT_WAIT_S = 60.0


def _wait_mid_boot(run: subprocess.Popen[bytes], ledger_dir: Path) -> Path:
    """The run's ledger file once gunicorn is started (fakes, Toxiproxy, database before it)."""
    deadline = time.monotonic() + BOOT_WAIT_S
    while time.monotonic() < deadline:
        assert run.poll() is None, "the chaos run ended before it was killed"
        for path in ledger_dir.glob(f"{run.pid}-*.jsonl"):
            names = {e.get("name") for e in read_ledger(path).entries.values()}
            if "refactored-gunicorn" in names:
                return path
        time.sleep(0.2)
    raise AssertionError(f"the chaos run started no gunicorn within {BOOT_WAIT_S:.0f}s")


def _ports(argv: list[str]) -> set[int]:
    """The ports a recorded process was told to listen on (--port N, --bind host:N)."""
    ports = set()
    for flag, value in itertools.pairwise(argv):
        if flag in ("--port", "-port"):
            ports.add(int(value))
        elif flag == "--bind":
            ports.add(int(value.rpartition(":")[2]))
    return ports


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive_in_group(entry: dict[str, Any]) -> list[int]:
    return [
        p.pid
        for p in all_processes()
        if p.pgid == entry["pid"] and p.state != "Z" and p.start_time >= entry["start_time"]
    ]


def _existing_databases(admin_url: str, names: list[str]) -> list[str]:
    connection = psycopg2.connect(admin_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,))
            return [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()


def test_down_reaps_everything_a_sigkilled_chaos_run_started(
    pg_admin_url: str, tmp_path: Path
) -> None:
    ledger_dir = tmp_path / "ledger"
    env = {
        **os.environ,
        "DATABASE_URL": pg_admin_url,
        "HARNESS_LEDGER_DIR": str(ledger_dir),
        "HARNESS_PDEATHSIG": "0",
        "REPORTS_DIR": str(tmp_path / "reports"),
        "TIME_SCALE": "0.1",
    }
    env.pop("TOXIPROXY_URL", None)
    env.pop("AMQP_URL", None)
    argv = [sys.executable, "-m", "harness", "chaos", "--scenario", "llm_latency"]
    argv += ["--target", "refactored", "--workers", "1", "--log-dir", str(tmp_path / "logs")]
    with (tmp_path / "chaos.log").open("wb") as log:
        run = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        ledger_path = _wait_mid_boot(run, ledger_dir)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    ledger: LedgerFile = read_ledger(ledger_path)
    processes = [e for e in ledger.entries.values() if e["kind"] == "process"]
    databases = [e["name"] for e in ledger.entries.values() if e["kind"] == "database"]
    paths = [Path(e["path"]) for e in ledger.entries.values() if e["kind"] == "path"]
    ports = set().union(*(_ports(e["argv"]) for e in processes))
    # what the hole was: all of it outlives the run
    assert len(processes) >= 5 and databases and len(ports) >= 5, ledger.entries
    assert all(_alive_in_group(e) for e in processes)
    assert _existing_databases(pg_admin_url, databases) == databases

    down = subprocess.run(
        [sys.executable, "-m", "harness", "down", "--state-dir", str(tmp_path / "state")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = down.stdout + down.stderr
    assert down.returncode == 0, said
    for entry in processes:
        assert f"killed {entry['name']} (process group {entry['pid']})" in said, said
        assert not _alive_in_group(entry), entry
    for name in databases:
        assert f"dropped database {name}" in said, said
    assert not [port for port in ports if _listening(port)]
    assert _existing_databases(pg_admin_url, databases) == []
    assert not [path for path in paths if path.exists()]
    assert not ledger_path.exists()
    assert "admin_token" not in said and "ADMIN_TOKEN" not in said
