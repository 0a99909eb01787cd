"""``python -m harness up / status / down`` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from testbed.stack_info import load_stack_info

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]


def _harness(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_up_status_down_leave_nothing_running(pg_admin_url: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {
        **os.environ,
        "DATABASE_URL": pg_admin_url,
        "TIME_SCALE": "0.1",
        "COLUMNS": "200",
    }
    env.pop("TOXIPROXY_URL", None)
    env.pop("AMQP_URL", None)
    base = ["--state-dir", str(state)]
    try:
        up = _harness("up", "--target", "legacy", "--workers", "1", *base, env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        info = load_stack_info(state / "stack.json")
        target = info.targets["legacy"]
        assert target.lb_url in up.stdout  # the URLs are printed
        assert httpx.get(f"{target.lb_url}/health", timeout=10).status_code == 200
        supervisor = info.supervisor_pid
        children = [r["pid"] for r in json.loads((state / "processes.json").read_text())]
        assert len(children) >= 6  # 3 fakes, Toxiproxy, gunicorn, Caddy

        again = _harness("up", "--target", "legacy", *base, env=env)
        assert again.returncode == 1
        assert f"already running (pid {supervisor}): make down first" in again.stderr

        status = _harness("status", *base, env=env)
        assert status.returncode == 0, status.stderr
        assert target.lb_url in status.stdout and "down" not in status.stdout
    finally:
        down = _harness("down", *base, env=env, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stack stopped" in down.stdout
    alive = [p for p in [supervisor, *children] if psutil.pid_exists(p)]
    assert not [p for p in alive if psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not (state / "stack.json").exists()
    assert httpx.URL(target.lb_url).port not in {
        c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN
    }
    again = _harness("down", *base, env=env)
    assert again.returncode == 0 and "no stack running" in again.stdout


def test_up_that_fails_prints_the_log_and_leaves_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/postgres"}
    up = _harness("up", "--target", "legacy", "--state-dir", str(state), env=env, timeout=120)
    assert up.returncode == 1
    assert "the stack did not start" in up.stderr
    assert "cannot connect to PostgreSQL" in up.stderr
    assert "nothing is left running" in up.stderr
    assert not (state / "supervisor.pid").exists()
    status = _harness("status", "--state-dir", str(state), env=env)
    assert status.returncode == 1 and "no stack running: run make up" in status.stderr
