"""Every response carries X-Request-ID (a 500 included) and every server log line is our JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gunicorn.config import Config

from refactored.infrastructure.observability.gunicorn_logging import JsonGunicornLogger
from refactored.infrastructure.observability.logging import JsonFormatter
from refactored.main import create_app
from tests.unit.refactored.app_harness import unit_overrides, unit_settings

pytestmark = pytest.mark.unit
SECRET = "s3cr3t-admin-token-value-0123456789"


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def _boom() -> None:
    raise RuntimeError(f"exploded near {SECRET}")


async def _call(headers: dict[str, Any] | None = None) -> httpx.Response:
    app = create_app(unit_settings(admin_token=SECRET), unit_overrides())
    app.add_api_route("/boom", _boom)
    async with app.router.lifespan_context(app):
        # ServerErrorMiddleware answers the 500, then re-raises for the server to log
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            return await client.get("/boom", headers=headers or {})


async def test_a_500_carries_the_clients_request_id_and_so_does_its_log_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    response = await _call({"X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "error": "internal"}
    assert response.headers["X-Request-ID"] == "req-42"
    lines = json_lines(capsys.readouterr().err)
    unhandled = [line for line in lines if line["message"] == "unhandled error"]
    assert unhandled and unhandled[0]["request_id"] == "req-42"
    assert SECRET not in json.dumps(lines)  # the traceback is scrubbed too


@pytest.mark.parametrize("given", [None, b"x" * 65, b"bad id with spaces", "é".encode()])
async def test_a_missing_or_unusable_request_id_is_replaced_by_a_fresh_one(
    given: bytes | None,
) -> None:
    response = await _call({} if given is None else {"X-Request-ID": given})
    assert response.status_code == 500
    assert len(response.headers["X-Request-ID"]) == 32  # uuid4().hex


@pytest.fixture
def server_loggers() -> Iterator[list[logging.Logger]]:
    """The servers' loggers with a plain handler, as gunicorn and uvicorn leave them."""
    names = ("gunicorn.error", "gunicorn.access", "uvicorn.error", "uvicorn.access")
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg.handlers[:], lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.handlers[:] = [logging.StreamHandler()]
    yield loggers
    for lg, (handlers, propagate) in zip(loggers, saved, strict=True):
        lg.handlers[:] = handlers
        lg.propagate = propagate


def test_create_app_formats_the_servers_loggers_as_scrubbed_json(
    server_loggers: list[logging.Logger],
) -> None:
    create_app(unit_settings(admin_token=SECRET), unit_overrides())
    for lg in server_loggers:
        (handler,) = lg.handlers
        assert isinstance(handler.formatter, JsonFormatter), lg.name
        record = lg.makeRecord(lg.name, logging.ERROR, __file__, 1, f"token {SECRET}", (), None)
        line = json.loads(handler.format(record))
        assert line["logger"] == lg.name and SECRET not in line["message"]


def test_the_gunicorn_logger_class_formats_master_and_access_lines_as_json(
    server_loggers: list[logging.Logger], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_KEY", SECRET)
    logger = JsonGunicornLogger(Config())
    for lg in (logger.error_log, logger.access_log):
        for handler in lg.handlers:
            record = lg.makeRecord(lg.name, logging.INFO, __file__, 1, f"boot {SECRET}", (), None)
            line = json.loads(handler.format(record))
            assert line["message"] == "boot ***"
    assert logger.error_log.handlers  # gunicorn's error log (stderr) is set up
