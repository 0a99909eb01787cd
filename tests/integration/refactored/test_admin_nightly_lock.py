"""POST /v1/admin/nightly takes the scheduler's PostgreSQL advisory lock: one run at a time.

A second trigger while a run holds the lock (another trigger, or the scheduler in any
worker) answers 409 and does nothing: no decay, no summary call.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import asyncpg
import httpx
import pytest
import respx

from refactored.main import NIGHTLY_LOCK, create_app
from tests.integration.refactored.conftest import make_settings
from tests.integration.refactored.test_endpoints import conversation
from tests.integration.refactored.test_nightly import ADMIN, SlowSummaries

pytestmark = pytest.mark.integration
NOW = {"now": "2025-01-01T12:00:00Z"}


async def _with_app(database_url: str, deps: SlowSummaries, run: Any) -> Any:
    app = create_app(make_settings(database_url, time_scale=1.0, job_concurrency=2))
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
                return await run(client)


async def test_two_triggers_at_once_run_the_job_once(database_url: str) -> None:
    deps = SlowSummaries()

    async def two(client: httpx.AsyncClient) -> list[httpx.Response]:
        first = asyncio.create_task(client.post("/v1/admin/nightly", headers=ADMIN, json=NOW))
        await asyncio.sleep(0.5)  # the first run holds the lock (its summaries take 1.5 s)
        second = await client.post("/v1/admin/nightly", headers=ADMIN, json=NOW)
        return [await first, second]

    first, second = await _with_app(database_url, deps, two)
    assert first.status_code == 200, first.text
    assert first.json()["summaries_refreshed"] == 2
    assert second.status_code == 409, second.text
    assert second.json()["error"] == "conflict"
    assert deps.calls.count("summary") == 2  # once per friendship, not twice


async def test_a_trigger_while_the_scheduler_holds_the_lock_is_409(database_url: str) -> None:
    """The lock another worker's scheduler would hold: taken here on a separate session."""
    holder = await asyncpg.connect(database_url)
    key = zlib.crc32(NIGHTLY_LOCK.encode())
    deps = SlowSummaries()
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", key)

        async def trigger_twice(client: httpx.AsyncClient) -> list[httpx.Response]:
            held = await client.post("/v1/admin/nightly", headers=ADMIN, json=NOW)
            await holder.execute("SELECT pg_advisory_unlock($1)", key)
            return [held, await client.post("/v1/admin/nightly", headers=ADMIN, json=NOW)]

        held, free = await _with_app(database_url, deps, trigger_twice)
    finally:
        await holder.close()
    assert held.status_code == 409, held.text
    assert free.status_code == 200, free.text
    assert deps.calls.count("summary") == 2  # only the second trigger ran the job
