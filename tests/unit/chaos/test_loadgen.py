"""The load generator against an in-process ASGI app (httpx.ASGITransport: no sockets)."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chaos.loadgen import (
    ACTIVITIES,
    END,
    FRIENDSHIP,
    HEALTH,
    BurstSpec,
    LoadGenerator,
    LoadPlan,
    client_address,
    standard_clients,
)
from chaos.messages import conversation_body

pytestmark = pytest.mark.unit


def make_app(seen: list[tuple[str, str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/conversations/end")
    async def end(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(("end", request.headers["x-forwarded-for"], body))
        if body["conversation_id"].endswith("3"):
            return JSONResponse({"detail": "late", "error": "deadline_exceeded"}, status_code=504)
        return JSONResponse({"score_delta": 7, "degraded": ["memory"]})

    @app.get("/v1/friendships/{user_id}/{agent_id}")
    async def friendship(user_id: str, agent_id: str, request: Request) -> JSONResponse:
        seen.append(("friendship", request.headers["x-forwarded-for"], (user_id, agent_id)))
        return JSONResponse({"detail": "friendship not found"}, status_code=404)

    @app.post("/v1/activities/suggest")
    async def activities(request: Request) -> JSONResponse:
        seen.append(("activities", request.headers["x-forwarded-for"], await request.json()))
        return JSONResponse(
            {"detail": "slow down", "error": "rate_limited"},
            status_code=429,
            headers={"Retry-After": "3"},
        )

    @app.get("/health")
    async def health(request: Request) -> dict[str, str]:
        seen.append(("health", request.headers["x-forwarded-for"], None))
        return {"status": "ok"}

    return app


async def test_clients_prober_and_burst_are_recorded_with_their_own_addresses() -> None:
    seen: list[tuple[str, str, Any]] = []
    transport = httpx.ASGITransport(app=make_app(seen))
    plan = LoadPlan(
        clients=standard_clients(3, think_s=0.02),
        bursts=(BurstSpec("burster", client_address(99), ACTIVITIES, at_s=0.2, count=25),),
        health_interval_s=0.05,
    )
    gen = LoadGenerator(
        "http://test", plan, prefix="r-unit", request_timeout_s=5.0, transport=transport
    )
    await gen.run(1.0)

    kinds = {s.endpoint for s in gen.samples}
    assert {END, FRIENDSHIP, ACTIVITIES} <= kinds
    assert len(gen.health) >= 5 and all(s.endpoint == HEALTH for s in gen.health)
    assert all(s.status == 200 for s in gen.health)

    burst = [s for s in gen.samples if s.client == "burster"]
    assert len(burst) == 25
    assert all(
        s.status == 429 and s.retry_after == "3" and s.error == "rate_limited" for s in burst
    )

    # each simulated client has its own X-Forwarded-For; the prober uses the 10.254/16 range
    by_client = {}
    for kind, xff, _ in seen:
        if kind != "health":
            by_client.setdefault(xff, 0)
    assert len(by_client) == 4
    assert {xff for kind, xff, _ in seen if kind == "health"} <= {
        f"10.254.0.{i}" for i in range(1, 5)
    }

    ends = [s for s in gen.samples if s.endpoint == END]
    assert all(s.conversation_id and s.conversation_id.startswith("r-unit-") for s in ends)
    assert len({s.conversation_id for s in ends}) == len(ends)
    ok = [s for s in ends if s.status == 200]
    assert ok and all(s.degraded == ("memory",) and s.score_delta == 7 for s in ok)
    late = [s for s in ends if s.status == 504]
    assert all(s.error == "deadline_exceeded" for s in late)
    assert all(0 <= s.t_s <= 1.2 and s.latency_ms >= 0 for s in gen.samples)


class RefusingTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)


async def test_transport_errors_are_samples_without_a_status() -> None:
    plan = LoadPlan(clients=standard_clients(1, think_s=0.05), health_interval_s=0.1)
    gen = LoadGenerator(
        "http://test", plan, prefix="r-x", request_timeout_s=1.0, transport=RefusingTransport()
    )
    await gen.run(0.3)
    assert gen.samples and all(s.status is None and s.error == "ConnectError" for s in gen.samples)


class HangingTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


async def test_the_run_ends_after_the_drain_even_when_requests_hang() -> None:
    plan = LoadPlan(clients=standard_clients(2), health_interval_s=0.1)
    gen = LoadGenerator(
        "http://test", plan, prefix="r-h", request_timeout_s=0.5, transport=HangingTransport()
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await gen.run(0.2, drain_s=0.3)
    # 0.2 s load + 0.3 s drain + prober waiting up to the request timeout, not an hour
    assert loop.time() - started < 5.0


def test_generated_conversations_satisfy_the_api_contract() -> None:
    rng = random.Random(3)
    for i in range(200):
        cid = f"r-20261122-db_pool_exhaustion-c12-{i}"
        body = conversation_body(rng, cid, "u", "a")
        assert 1 <= len(body["conversation_id"]) <= 64
        assert 1 <= len(body["messages"]) <= 500
        assert datetime.fromisoformat(body["ended_at"]) >= datetime.fromisoformat(
            body["started_at"]
        )
        assert {m["role"] for m in body["messages"]} == {"user", "assistant"}
        assert all(len(m["content"]) <= 8000 for m in body["messages"])


def test_client_addresses_are_distinct_private_and_avoid_the_prober_range() -> None:
    addresses = [client_address(i) for i in range(1, 2000)]
    assert len(set(addresses)) == len(addresses)
    assert all(a.startswith("10.") and not a.startswith("10.254.") for a in addresses)


class SlowTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        await asyncio.sleep(0.5)
        return httpx.Response(200, json={}, request=request)


async def test_clients_keep_their_pace_against_a_slow_server_up_to_their_in_flight_cap() -> None:
    """No coordinated omission: a slow server still receives the offered load."""
    transport = SlowTransport()
    spec = standard_clients(1, think_s=0.1)[0]
    plan = LoadPlan(clients=(spec,), health_interval_s=10.0)
    gen = LoadGenerator("http://t", plan, prefix="r-s", request_timeout_s=5.0, transport=transport)
    await gen.run(1.0)
    client_calls = len(gen.samples)
    # a closed loop would manage 2 requests in 1 s against a 0.5 s server; capped at 4 in flight
    assert client_calls >= 5
    assert all(s.latency_ms >= 450 for s in gen.samples)
