"""The stack's main use: a real PostgreSQL protocol session through the proxy, then faults."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

pytestmark = pytest.mark.integration


def proxied(url: str, api: httpx.Client) -> str:
    parts = urlsplit(url)
    upstream = f"{parts.hostname}:{parts.port or 5432}"
    proxy = api.post("/proxies", json={"name": "postgres", "upstream": upstream}).json()
    netloc = parts.netloc.rsplit("@", 1)
    host_port = proxy["listen"]
    return urlunsplit(
        parts._replace(netloc=f"{netloc[0]}@{host_port}" if len(netloc) == 2 else host_port)
    )


def test_queries_pass_then_slow_down_then_reset(api: httpx.Client, pg_admin_url: str) -> None:
    url = proxied(pg_admin_url, api)

    async def scenario() -> None:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            assert await connection.fetchval("select 41 + 1") == 42
            api.post(
                "/proxies/postgres/toxics", json={"type": "latency", "attributes": {"latency": 300}}
            )
            started = time.monotonic()
            assert await connection.fetchval("select 1") == 1
            assert time.monotonic() - started >= 0.3
            toxic = {"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}}
            api.post("/proxies/postgres/toxics", json=toxic)
            with pytest.raises((ConnectionError, asyncpg.PostgresConnectionError, OSError)):
                await asyncio.wait_for(connection.fetchval("select 1"), 10)
        finally:
            connection.terminate()
        api.post("/reset")
        again = await asyncpg.connect(url, timeout=10)
        try:
            assert await again.fetchval("select 1") == 1
        finally:
            await again.close()

    asyncio.run(scenario())
