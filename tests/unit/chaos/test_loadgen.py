"""The load generator against an in-process ASGI app (httpx.ASGITransport: no sockets), and
its source-address binding against a real socket on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import random
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chaos.load_plan import (
    ACTIVITIES,
    END,
    FRIENDSHIP,
    HEALTH,
    PROBER_ADDRESSES,
    BurstSpec,
    LoadPlan,
    client_address,
    forged_address,
    poller_address,
    standard_clients,
)
from chaos.loadgen import LoadGenerator
from chaos.messages import conversation_body

pytestmark = pytest.mark.unit


Seen = list[tuple[str, str, Any]]  # (kind, peer address, what the request carried)


def peer(request: Request) -> str:
    assert request.client is not None
    return request.client.host


def make_app(seen: Seen, forged: list[str] | None = None) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record_forged(request: Request, call_next: Any) -> Any:
        if "x-forwarded-for" in request.headers and forged is not None:
            forged.append(request.headers["x-forwarded-for"])
        return await call_next(request)

    @app.post("/v1/conversations/end")
    async def end(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(("end", peer(request), body))
        if body["conversation_id"].endswith("3"):
            return JSONResponse({"detail": "late", "error": "deadline_exceeded"}, status_code=504)
        return JSONResponse({"score_delta": 7, "degraded": ["memory"]})

    @app.get("/v1/friendships/{user_id}/{agent_id}")
    async def friendship(user_id: str, agent_id: str, request: Request) -> JSONResponse:
        seen.append(("friendship", peer(request), (user_id, agent_id)))
        return JSONResponse({"detail": "friendship not found"}, status_code=404)

    @app.post("/v1/activities/suggest")
    async def activities(request: Request) -> JSONResponse:
        seen.append(("activities", peer(request), await request.json()))
        return JSONResponse(
            {"detail": "slow down", "error": "rate_limited"},
            status_code=429,
            headers={"Retry-After": "3"},
        )

    @app.get("/health")
    async def health(request: Request) -> dict[str, str]:
        seen.append(("health", peer(request), None))
        return {"status": "ok"}

    return app


def asgi_transports(app: FastAPI) -> Any:
    """Per source address, a transport whose requests reach ``app`` from that address."""
    return lambda address: httpx.ASGITransport(app=app, client=(address, 40000))


async def test_clients_prober_and_burst_are_recorded_with_their_own_addresses() -> None:
    seen: Seen = []
    forged: list[str] = []
    transport = asgi_transports(make_app(seen, forged))
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

    # each simulated client is its own peer; the prober rotates over its 4 addresses;
    # nobody forges an X-Forwarded-For unless told to
    assert {address for kind, address, _ in seen if kind != "health"} == {
        client_address(1),
        client_address(2),
        client_address(3),
        client_address(99),
    }
    assert {address for kind, address, _ in seen if kind == "health"} == set(PROBER_ADDRESSES)
    assert forged == []

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
        "http://test",
        plan,
        prefix="r-x",
        request_timeout_s=1.0,
        transport=lambda _address: RefusingTransport(),
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
        "http://test",
        plan,
        prefix="r-h",
        request_timeout_s=0.5,
        transport=lambda _address: HangingTransport(),
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


def test_client_addresses_are_distinct_loopback_peers_apart_from_pollers_and_prober() -> None:
    indexes = [*range(0, 70_000), 200 * 254 * 254 - 1]
    addresses = [client_address(i) for i in indexes]
    assert len(set(addresses)) == len(addresses)
    others = {*PROBER_ADDRESSES, *(poller_address(i) for i in range(254))}
    for address in [*addresses, *others]:
        ip = ipaddress.ip_address(address)
        assert ip in ipaddress.ip_network("127.0.0.0/8"), address
        assert ip not in ipaddress.ip_network("127.0.0.0/16"), address  # 127.0.0.1, resolvers
        assert address.rsplit(".", 1)[1] not in ("0", "255"), address
    assert not others & set(addresses)
    assert client_address(200) == client_address(200)  # deterministic


async def test_a_burst_from_one_address_can_forge_headers_and_spread_over_users() -> None:
    seen: Seen = []
    forged: list[str] = []
    burst = BurstSpec(
        "spoofer",
        client_address(7),
        FRIENDSHIP,
        at_s=0.0,
        count=20,
        forge_xff=True,
        spread_users=True,
    )
    plan = LoadPlan(clients=(), bursts=(burst,), health_interval_s=10.0)
    gen = LoadGenerator(
        "http://test",
        plan,
        prefix="r-f",
        request_timeout_s=5.0,
        transport=asgi_transports(make_app(seen, forged)),
    )
    await gen.run(0.5)
    reads = [(address, key) for kind, address, key in seen if kind == "friendship"]
    assert {address for address, _ in reads} == {client_address(7)}
    assert len({key for _, key in reads}) == 20  # 20 URLs of one route
    assert sorted(forged) == sorted(forged_address(i) for i in range(1, 21))
    assert len(set(forged)) == 20


async def test_the_default_transport_connects_from_the_clients_own_loopback_address() -> None:
    """A real socket: the peer the server sees is the client's address, not 127.0.0.1."""
    peers: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    plan = LoadPlan(clients=(), health_interval_s=10.0)
    gen = LoadGenerator(f"http://127.0.0.1:{port}", plan, prefix="r-b", request_timeout_s=5.0)
    try:
        for address in (client_address(5), poller_address(0)):
            async with gen.http_client(address) as client:
                assert (await client.get("/health")).status_code == 200
    finally:
        server.close()
        await server.wait_closed()
    assert peers == [client_address(5), poller_address(0)]


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
    gen = LoadGenerator(
        "http://t", plan, prefix="r-s", request_timeout_s=5.0, transport=lambda _a: transport
    )
    await gen.run(1.0)
    client_calls = len(gen.samples)
    # a closed loop would manage 2 requests in 1 s against a 0.5 s server; capped at 4 in flight
    assert client_calls >= 5
    assert all(s.latency_ms >= 450 for s in gen.samples)
