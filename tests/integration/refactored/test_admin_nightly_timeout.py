"""POST /v1/admin/nightly: an operator job, bounded by its job timeout, not the request deadline."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import respx

from refactored.main import create_app
from tests.integration.refactored.conftest import make_settings
from tests.integration.refactored.test_endpoints import conversation
from tests.integration.refactored.test_nightly import ADMIN, SlowSummaries

pytestmark = pytest.mark.integration

SUMMARY_DELAY_S = 1.5  # SlowSummaries: every summary LLM call takes this long
# time_scale 1: the request deadline (0.5 s) is a third of one summary call
SETTINGS: dict[str, Any] = {
    "time_scale": 1.0,
    "request_deadline_s": 0.5,
    "deadline_reserve_s": 0.05,
    "dependency_deadline_reserve_s": 0.1,
    "job_concurrency": 2,
}


async def run_nightly(database_url: str, **extra: Any) -> tuple[httpx.Response, float]:
    app = create_app(make_settings(database_url, **SETTINGS, **extra))
    deps = SlowSummaries()
    with respx.mock(assert_all_called=False) as router:
        router.route(host="llm.test").mock(side_effect=deps)
        router.route(host="memory.test").mock(side_effect=deps)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
                for i in range(2):
                    ended = await client.post(
                        "/v1/conversations/end", json=conversation(f"c{i}", user=f"u{i}")
                    )
                    assert ended.status_code == 200, ended.text
                started = time.perf_counter()
                response = await client.post(
                    "/v1/admin/nightly", headers=ADMIN, json={"now": "2025-01-01T12:00:00Z"}
                )
                return response, time.perf_counter() - started


async def test_nightly_endpoint_outlives_the_request_deadline_and_answers_the_counts(
    database_url: str,
) -> None:
    response, elapsed = await run_nightly(database_url)
    assert response.status_code == 200, response.text  # not the request deadline's 504
    assert response.json()["summaries_refreshed"] == 2
    assert elapsed >= SUMMARY_DELAY_S  # the job really ran past the 0.5 s request deadline


async def test_nightly_endpoint_is_bounded_by_its_own_job_timeout(database_url: str) -> None:
    response, elapsed = await run_nightly(database_url, job_timeout_s=0.3)
    assert response.status_code == 504, response.text
    assert response.json()["error"] == "deadline_exceeded"
    assert "job timeout" in response.json()["detail"]
    assert elapsed < SUMMARY_DELAY_S  # cut by the job timeout, not waiting for the summaries
