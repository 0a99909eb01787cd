"""Structured logs: each record carries the request's ids, and no secret ever reaches the output."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.unit.refactored.app_harness import conversation, running, unit_overrides
from tests.unit.refactored.fake_llm import FakeDependencies

pytestmark = pytest.mark.unit
SECRETS = {
    "secret_key": "sk-" + "s3cr3t" * 6,
    "admin_token": "adm1n-t0ken-value",
    "llm_api_key": "llm-k3y-value-0123",
    "memory_api_key": "mem-k3y-value-4567",
}
FOREIGN_TOKEN = "a-clients-own-token-xyz"  # not configured anywhere: only patterns can catch it
DB_PASSWORD = "pg-passw0rd"


def records(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


async def test_a_requests_records_carry_its_request_and_conversation_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    deps = FakeDependencies(fail={"emotion": 400})  # a fallback: logged, and alerted
    # alerts=None: the real alert sink, which logs each alert with its own conversation_id
    async with running(deps, unit_overrides(alerts=None)) as (_, client):
        response = await client.post(
            "/v1/conversations/end",
            json=conversation("conv-42"),
            headers={"X-Request-ID": "req-42"},
        )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-42"
    logged = [
        r for r in records(capsys.readouterr().err) if r["message"] in {"fallback used", "alert"}
    ]
    assert {r["message"] for r in logged} == {"fallback used", "alert"}, logged
    for record in logged:
        assert (record["request_id"], record["conversation_id"]) == ("req-42", "conv-42"), record
        assert record["level"] == "WARNING"  # not the alert's own level (an extra field)


async def test_secrets_never_reach_the_log_output(capsys: pytest.CaptureFixture[str]) -> None:
    settings: dict[str, Any] = {
        **SECRETS,
        "database_url": f"postgresql://svc:{DB_PASSWORD}@127.0.0.1:1/unused",
    }
    deps = FakeDependencies(fail={"*": 429}, retry_after="0")  # retries, fallbacks, alerts
    async with running(deps, unit_overrides(alerts=None), **settings) as (_, client):
        await client.post("/v1/conversations/end", json=conversation())
        for token in (SECRETS["admin_token"], FOREIGN_TOKEN):
            await client.post("/v1/admin/nightly", headers={"Authorization": f"Bearer {token}"})
        # What a careless log line, or an error that echoes a request, would write.
        log = logging.getLogger("refactored.careless")
        log.warning("LLM headers %s", {"Authorization": f"Bearer {SECRETS['llm_api_key']}"})
        log.warning("admin said Authorization: Bearer %s", FOREIGN_TOKEN)
        log.warning("memory call", extra={"detail": f"Token {SECRETS['memory_api_key']}"})
        log.warning("signing with %s", SECRETS["secret_key"], extra={"nested": dict(SECRETS)})
        log.warning("connecting to %s", settings["database_url"])
        try:
            raise RuntimeError(f"admin token {SECRETS['admin_token']} rejected")
        except RuntimeError:
            log.exception("request failed")
    err = capsys.readouterr().err
    messages = [r["message"] for r in records(err)]
    assert "LLM headers {'Authorization': 'Bearer ***'}" in messages  # still useful, masked
    assert "connecting to postgresql://svc:***@127.0.0.1:1/unused" in messages
    for secret in (*SECRETS.values(), FOREIGN_TOKEN, DB_PASSWORD):
        assert secret not in err
