"""The nightly job on real PostgreSQL: re-score once; the job bulkhead never starves requests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.integration.refactored.test_endpoints import conversation
from tests.unit.refactored.fake_llm import FakeDependencies

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer tttttttt"}


async def test_degraded_conversation_is_rescored_once(
    app_client: Any, deps: Any, database_url: str
) -> None:
    deps.fail = {"emotion": 500, "topics": 500}
    # without retries, 2 failures stay under the breaker threshold (5)
    async with app_client(resilience_disable="retry") as client:
        first = (await client.post("/v1/conversations/end", json=conversation())).json()
        assert first["degraded"] == ["emotion", "topics"]
        assert first["score_delta"] == 2  # neutral, 1 question, no topics
        deps.fail = {}
        report = await client.post(
            "/v1/admin/nightly", headers=ADMIN, json={"now": "2025-01-01T12:00:00Z"}
        )
        assert report.json()["rescored"] == 1
        again = await client.post(
            "/v1/admin/nightly", headers=ADMIN, json={"now": "2025-01-01T13:00:00Z"}
        )
        assert again.json()["rescored"] == 0
        friendship = (await client.get("/v1/friendships/u1/a1")).json()
        replay = (await client.post("/v1/conversations/end", json=conversation())).json()
    assert friendship["friendship_score"] == 2 + 5 + 6  # + positive, + two new topics
    assert [t["topic"] for t in friendship["topics"]] == ["food", "music"]
    assert replay == first
    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text(
                    "SELECT rescore_status, score_correction, rescored_at"
                    " FROM processed_conversations"
                )
            )
        ).one()
        events = (
            (await conn.execute(sa.text("SELECT payload FROM outbox_events ORDER BY created_at")))
            .scalars()
            .all()
        )
    await engine.dispose()
    assert (row.rescore_status, row.score_correction) == ("done", 11)
    assert [e.get("reason") for e in events] == [None, "rescore"]


class SlowSummaries(FakeDependencies):
    async def __call__(self, request: httpx.Request) -> httpx.Response:  # type: ignore[override]
        if b"TASK: summary" in request.content:
            await asyncio.sleep(1.5)
        return super().__call__(request)


@pytest.mark.parametrize("disable", ["", "job_bulkhead"], ids=["enabled", "disabled"])
async def test_job_bulkhead_keeps_requests_served_during_the_job(
    database_url: str, disable: str
) -> None:
    from tests.integration.refactored.conftest import make_settings

    settings = dict(
        resilience_disable=disable,
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout=10.0,
        time_scale=1.0,
        job_concurrency=2,
    )
    deps = SlowSummaries()
    import respx

    from refactored.main import create_app

    app = create_app(make_settings(database_url, **settings))
    with respx.mock(assert_all_called=False) as router:
        router.route(host="llm.test").mock(side_effect=deps)
        router.route(host="memory.test").mock(side_effect=deps)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
                for i in range(6):
                    await client.post(
                        "/v1/conversations/end", json=conversation(f"c{i}", user=f"u{i}")
                    )
                job = asyncio.create_task(
                    client.post(
                        "/v1/admin/nightly", headers=ADMIN, json={"now": "2025-01-01T12:00:00Z"}
                    )
                )
                await asyncio.sleep(0.5)  # the job is now waiting on its summaries
                started = time.perf_counter()
                response = await client.get("/v1/friendships/u1/a1")
                elapsed = time.perf_counter() - started
                job_response = await job
    assert job_response.json()["summaries_refreshed"] == 6
    if disable:
        # the job holds every request connection across its LLM calls: the request
        # waits for the job (legacy's night; with a short pool timeout it would be a 503)
        assert elapsed >= 1.0
    else:
        assert response.status_code == 200
        assert elapsed < 0.4
