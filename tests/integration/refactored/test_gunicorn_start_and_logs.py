"""Under gunicorn, as the harness starts it: a weak secret is refused without printing it,
and every line the worker and the master log is the scrubbing JSON format.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import httpx
import pytest

from testbed.processes import ProcessGroup
from testbed.services import gunicorn_argv, start_service

pytestmark = pytest.mark.integration

WEAK = "hunter2-weak-secret"  # 19 characters
STRONG = "0123456789abcdef" * 4
BASE_ENV = {
    "DATABASE_URL": "postgresql://probe@127.0.0.1:9/probe",  # never reached at start-up
    "LLM_BASE_URL": "http://127.0.0.1:9/v1",
    "MEMORY_API_URL": "http://127.0.0.1:9",
    "NIGHTLY_SCHEDULER_ENABLED": "false",
}


def _parse(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    parsed, other = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            parsed.append(json.loads(line))
        except ValueError:
            other.append(line)
    return parsed, other


@pytest.mark.parametrize(
    ("variable", "rule"),
    [("SECRET_KEY", "SECRET_KEY is too short (19 chars)"), ("ADMIN_TOKEN", "ADMIN_TOKEN is too")],
)
def test_a_weak_secret_stops_gunicorn_and_its_value_is_never_printed(
    variable: str, rule: str
) -> None:
    env = {**os.environ, **BASE_ENV, "ENV": "production", "SECRET_KEY": STRONG, variable: WEAK}
    argv = gunicorn_argv("refactored", 9, workers=1, timeout_s=5)  # never binds: fails first
    argv[argv.index("--bind") + 1] = "127.0.0.1:0"
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert WEAK not in done.stderr + done.stdout
    assert "hunter2" not in done.stderr
    assert rule in done.stderr
    lines, other = _parse(done.stderr)
    assert any(line["message"] == "Exception in worker process" for line in lines)
    # gunicorn also print()s the boot error's text bare: nothing but what the JSON line holds
    logged = " ".join(str(line.get("exc", "")) for line in lines)
    assert all(text in logged for text in other), other


def test_every_line_of_a_running_service_is_json_and_every_answer_has_a_request_id(
    processes: ProcessGroup,
) -> None:
    env = {**BASE_ENV, "SECRET_KEY": STRONG, "ADMIN_TOKEN": STRONG, "LOG_LEVEL": "INFO"}
    service = start_service(processes, "refactored", env, workers=1, timeout_s=5)
    with httpx.Client(base_url=service.base_url) as client:
        answers = [
            client.get("/health"),
            client.get("/v1/friendships/u%00/a1"),  # 422 before any SQL
            client.get("/nowhere"),
        ]
    service.process.stop()
    assert [a.status_code for a in answers] == [200, 422, 404]
    assert all(a.headers.get("X-Request-ID") for a in answers)
    lines, other = _parse(service.process.log_path.read_text())
    assert other == [], other
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "uvicorn.error"} <= loggers, loggers
    assert STRONG not in json.dumps(lines)
