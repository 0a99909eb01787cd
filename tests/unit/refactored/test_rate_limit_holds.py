"""The rate limits cannot be walked around (issue 11): not with a forged X-Forwarded-For,
not with different URLs of one route, not with requests that fail validation; and when
the counters' store fails the limiter fails open, counts it and pages once (P1)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from refactored.infrastructure.observability.metrics import rate_limit_fail_open
from refactored.infrastructure.web.limiter import open_storage
from tests.unit.refactored.app_harness import conversation, running, unit_overrides
from tests.unit.refactored.fake_llm import FakeDependencies
from tests.unit.refactored.fakes import RecordingAlerts

pytestmark = pytest.mark.unit
THREE = {
    name: "3/minute"
    for name in (
        "rate_limit_default",
        "rate_limit_conversation_end",
        "rate_limit_activities_suggest",
    )
}


def peer(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client whose TCP peer address (scope["client"]) is ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://svc")


@asynccontextmanager
async def app_with(
    alerts: RecordingAlerts | None = None, **settings: Any
) -> AsyncIterator[FastAPI]:
    overrides = unit_overrides(alerts=alerts or RecordingAlerts())
    async with running(FakeDependencies(), overrides, **{**THREE, **settings}) as (app, _):
        yield app


async def statuses(client: httpx.AsyncClient, requests: list[dict[str, Any]]) -> list[int]:
    return [(await client.request(**r)).status_code for r in requests]


def friendship(n: int, xff: str | None = None) -> dict[str, Any]:
    headers = {"X-Forwarded-For": xff} if xff else {}
    return {"method": "GET", "url": f"/v1/friendships/u{n}/a{n}", "headers": headers}


async def test_a_new_forged_x_forwarded_for_per_request_buys_nothing() -> None:
    async with app_with() as app, peer(app, "203.0.113.7") as client:
        got = await statuses(client, [friendship(1, f"10.0.0.{i}") for i in range(5)])
    assert got == [404, 404, 404, 429, 429]


async def test_a_forged_address_does_not_throttle_its_owner() -> None:
    async with app_with() as app:
        async with peer(app, "203.0.113.7") as attacker:
            await statuses(attacker, [friendship(1, "198.51.100.1") for _ in range(5)])
        async with peer(app, "198.51.100.1") as victim:
            assert (await victim.get("/v1/friendships/u1/a1")).status_code == 404


async def test_behind_the_trusted_proxy_each_forwarded_client_has_its_own_budget() -> None:
    async with app_with(trusted_proxies="10.0.0.2") as app, peer(app, "10.0.0.2") as lb:
        first = await statuses(lb, [friendship(1, "198.51.100.1") for _ in range(4)])
        other = await statuses(lb, [friendship(1, "198.51.100.2")])
        # a client prepending a forged hop is still itself: the LB appended its real address
        forged = await statuses(lb, [friendship(1, "198.51.100.2, 198.51.100.1")])
    assert first == [404, 404, 404, 429]
    assert other == [404]
    assert forged == [429]


async def test_every_url_of_a_route_shares_the_route_templates_budget() -> None:
    async with app_with() as app, peer(app, "203.0.113.7") as client:
        got = await statuses(client, [friendship(n) for n in range(5)])
        health = await client.get("/health")  # another route: its own budget
        refused = await client.get("/v1/friendships/zz/zz")
    assert got == [404, 404, 404, 429, 429]
    assert health.status_code == 200
    assert refused.json()["error"] == "rate_limited"
    assert "3 per 1 minute" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


async def test_requests_that_fail_validation_are_counted() -> None:
    invalid = [
        {"method": "POST", "url": "/v1/activities/suggest", "json": {"user_id": "u1"}},  # 422
        {"method": "POST", "url": "/v1/activities/suggest", "content": b"{not json"},  # 422
        {"method": "POST", "url": "/v1/activities/suggest", "json": {"limit": "x" * 10}},  # 422
    ]
    valid = {
        "method": "POST",
        "url": "/v1/activities/suggest",
        "json": {"user_id": "u1", "agent_id": "a1"},
    }
    async with app_with() as app, peer(app, "203.0.113.7") as client:
        got = await statuses(client, [*invalid, valid])
    assert got == [422, 422, 422, 429]


async def test_a_conversation_with_an_invalid_body_is_counted_too() -> None:
    bad = {**conversation(), "messages": []}
    async with app_with() as app, peer(app, "203.0.113.7") as client:
        got = await statuses(
            client,
            [{"method": "POST", "url": "/v1/conversations/end", "json": bad}] * 3
            + [{"method": "POST", "url": "/v1/conversations/end", "json": conversation()}],
        )
    assert got == [422, 422, 422, 429]


async def test_unmatched_paths_and_wrong_methods_are_counted() -> None:
    scan = [{"method": "GET", "url": f"/wp-admin/{n}.php"} for n in range(5)]
    wrong_method = [{"method": "DELETE", "url": "/v1/friendships/u1/a1"}] * 3
    async with app_with() as app, peer(app, "203.0.113.7") as client:
        got_scan = await statuses(client, scan)
        got_method = await statuses(client, [*wrong_method, friendship(1)])
    assert got_scan == [404, 404, 404, 429, 429]  # RATE_LIMIT_DEFAULT over every unmatched path
    assert got_method == [405, 405, 405, 429]  # a 405 counts against its route


async def test_an_unreachable_store_fails_open_counts_it_and_pages_once() -> None:
    alerts = RecordingAlerts()
    before = rate_limit_fail_open._value.get()
    async with (
        app_with(alerts, rate_limit_storage_uri="redis://127.0.0.1:1/0") as app,
        peer(app, "203.0.113.7") as client,
    ):
        got = await statuses(client, [friendship(1) for _ in range(8)])
    assert got == [404] * 8  # over the limit of 3, and nobody refused: fail open
    assert rate_limit_fail_open._value.get() - before == 8
    pages = [title for level, title in alerts.alerts if level == "P1"]
    assert pages == ["Rate limit store unreachable: 1 requests passed unchecked"]


async def test_a_hanging_store_costs_one_timeout_then_is_left_alone() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        uri = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        async with (
            app_with(rate_limit_storage_uri=uri, rate_limit_storage_timeout_s=0.1) as app,
            peer(app, "203.0.113.7") as client,
        ):
            started = time.perf_counter()
            first = await client.get("/v1/friendships/u/a")
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            rest = await statuses(client, [friendship(1) for _ in range(5)])
            rest_s = time.perf_counter() - started
    assert first.status_code == 404 and first_s < 1.0  # at most 2 x the store timeout
    assert rest == [404] * 5 and rest_s < 0.5  # within STORE_RETRY_S the store is skipped


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_a_peer_rewritten_by_uvicorns_proxy_headers_is_reported() -> None:
    """uvicorn's ProxyHeadersMiddleware leaves port 0 where it put a forwarded address."""
    records = Records()
    logger = logging.getLogger("refactored.infrastructure.web.rate_limit")
    async with app_with() as app:
        logger.addHandler(records)  # after create_app configured logging
        transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 0))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
                for _ in range(2):
                    await client.get("/health", headers={"X-Forwarded-For": "198.51.100.1"})
        finally:
            logger.removeHandler(records)
    assert len(records.messages) == 1  # once per worker, not per request
    assert "--forwarded-allow-ips ''" in records.messages[0]


def test_the_store_is_bounded_per_hit_not_per_socket_operation() -> None:
    """One asyncio.timeout around the hit bounds a hanging store (the test above); redis-py's
    own socket timeout (5 s by default) would add a wait_for task per command sent."""
    _, pool = open_storage("redis://127.0.0.1:6379/0", "test", 0.25)
    assert pool is not None
    connection = pool.make_connection()
    assert connection.socket_timeout is None
    assert connection.socket_connect_timeout == 0.25
    assert pool.timeout == 0.25  # the wait for a free connection stays bounded on its own
