"""The database unreachable or out of connections: 503 fast, nothing half-written."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from refactored.core.settings import Settings
from testbed.net import free_port
from tests.integration.refactored.test_endpoints import conversation

pytestmark = pytest.mark.integration


async def test_database_down_answers_503_fast_with_retry_after(app_client: Any) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    async with app_client(database_url=dead, time_scale=0.1) as client:
        started = time.perf_counter()
        response = await client.post("/v1/conversations/end", json=conversation())
        elapsed = time.perf_counter() - started
        ready = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["error"] == "storage_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < 5.0  # connection refused is immediate; legacy would 500
    assert ready.status_code == 503
    assert ready.json()["database"] == "error"


async def backends(url: str, application_name: str) -> int:
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            return int(
                await conn.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"
                        " AND datname = current_database()"
                    ),
                    {"n": application_name},
                )
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("disable", ["", "pool_limits"], ids=["enabled", "disabled"])
async def test_pool_limits_bound_the_connections_one_worker_opens(
    app_client: Any, database_url: str, disable: str
) -> None:
    """30 requests wait on one friendship's row lock: bounded, they queue in the pool."""
    async with app_client(
        resilience_disable=disable,
        db_pool_size=3,
        db_max_overflow=1,
        db_pool_timeout=30.0,
        time_scale=1.0,
    ) as client:
        await client.post("/v1/conversations/end", json=conversation("first"))
        engine = create_async_engine(
            database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        )
        async with engine.connect() as holder:
            await holder.begin()
            await holder.execute(sa.text("SELECT 1 FROM friendships WHERE user_id='u1' FOR UPDATE"))
            requests = [
                asyncio.create_task(
                    client.post("/v1/conversations/end", json=conversation(f"c{i}"))
                )
                for i in range(30)
            ]
            peak = 0
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:  # let every request reach the lock or the pool
                peak = max(peak, await backends(database_url, "refactored"))
                if peak >= 30:
                    break
                await asyncio.sleep(0.1)
            await holder.rollback()
        responses = await asyncio.gather(*requests)
        await engine.dispose()
    assert all(r.status_code == 200 for r in responses)
    if disable:
        assert peak >= 20  # one connection per waiting request: legacy's pool exhaustion
    else:
        assert peak <= 4  # pool_size 3 + overflow 1


async def test_pool_exhausted_answers_503_quickly(app_client: Any, database_url: str) -> None:
    async with app_client(
        db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2, time_scale=1.0
    ) as client:
        await client.post("/v1/conversations/end", json=conversation("first"))
        engine = create_async_engine(
            database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        )
        async with engine.connect() as holder:
            await holder.begin()
            await holder.execute(sa.text("SELECT 1 FROM friendships WHERE user_id='u1' FOR UPDATE"))
            blocked = asyncio.create_task(
                client.post("/v1/conversations/end", json=conversation("waits"))
            )
            await asyncio.sleep(0.3)  # let it take the only connection and wait on the lock
            started = time.perf_counter()
            response = await client.get("/v1/friendships/u1/a1")
            elapsed = time.perf_counter() - started
            await holder.rollback()
        assert (await blocked).status_code == 200
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["error"] == "storage_unavailable"
    assert elapsed < 2.0  # pool timeout 0.2 s


async def backend_pids(engine: AsyncEngine, application_name: str) -> set[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = :n"
                " AND datname = current_database()"
            ),
            {"n": application_name},
        )
        return {int(pid) for (pid,) in rows}


async def test_the_default_request_pool_keeps_a_burst_s_connections_for_the_next(
    app_client: Any, database_url: str
) -> None:
    """With the default sizing the connections a burst opens stay open for the next burst.

    An overflow connection is closed when it comes back and opened again at the next burst
    (a new PostgreSQL backend: ~4 CPU ms there, ~2 ms in the worker); the defaults keep the
    whole bound as the pool, so two bursts that fill it are served by the same backends,
    and the bound itself is the same as before (DB_POOL_SIZE + DB_MAX_OVERFLOW).
    """
    defaults = Settings.model_fields
    bound = int(defaults["db_pool_size"].default) + int(defaults["db_max_overflow"].default)
    async with app_client(db_pool_timeout=30.0, time_scale=1.0) as client:
        await client.post("/v1/conversations/end", json=conversation("first"))
        engine = create_async_engine(
            database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        )
        after_each_burst = []
        for burst in range(2):
            async with engine.connect() as holder:
                await holder.begin()
                await holder.execute(
                    sa.text("SELECT 1 FROM friendships WHERE user_id='u1' FOR UPDATE")
                )
                requests = [  # each holds a pooled connection while it waits on the lock
                    asyncio.create_task(
                        client.post("/v1/conversations/end", json=conversation(f"b{burst}-{i}"))
                    )
                    for i in range(bound)
                ]
                deadline = time.monotonic() + 5.0
                while time.monotonic() < deadline:
                    if len(await backend_pids(engine, "refactored")) >= bound:
                        break
                    await asyncio.sleep(0.1)
                await holder.rollback()
            responses = await asyncio.gather(*requests)
            assert all(r.status_code == 200 for r in responses)
            after_each_burst.append(await backend_pids(engine, "refactored"))
        await engine.dispose()
    first, second = after_each_burst
    assert len(first) == bound  # the burst filled the pool and none was closed on return
    assert second == first  # the next burst reused them: no new backend
