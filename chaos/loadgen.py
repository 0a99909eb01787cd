"""The chaos scenarios' in-process async load: runs a ``chaos.load_plan.LoadPlan`` (simulated
clients and a health prober) and records every request as a ``Sample``.

Why not Locust here: a chaos scenario needs its load, its fault schedule and its
measurements on one clock, in one process, for 10-25 seconds, on a 2-core machine that
also runs the whole stack. A few coroutines on one event loop (httpx on the aiohttp
transport) cost next to nothing; Locust stays the tool of the load tests (loadtests/).

Each simulated client is a real, distinct peer: its connections leave from its own
loopback address (``127.A.B.C``, see :func:`client_address`; Linux routes all of
127.0.0.0/8 to ``lo``), and the load balancer forwards that address, which the rate limiter
keys on. No client sends an ``X-Forwarded-For`` of its own (the load balancer replaces it)
except a burst that forges one on purpose (:attr:`BurstSpec.forge_xff`). Each client has
its own users; conversation ids carry a per-target, per-run prefix so that the integrity
checks can find exactly the rows this scenario wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx

from chaos.load_plan import (
    ACTIVITIES,
    END,
    FRIENDSHIP,
    HEALTH,
    PROBER_ADDRESSES,
    READY,
    BurstSpec,
    ClientSpec,
    LoadPlan,
    Sample,
    forged_address,
)
from chaos.messages import conversation_body

TransportFactory = Callable[[str], httpx.AsyncBaseTransport]


def default_transport(local_address: str) -> httpx.AsyncBaseTransport:
    """httpx's API on aiohttp's connection pool (the cheapest async client on this machine),
    its connections bound to ``local_address``."""
    from httpx_aiohttp import AiohttpTransport

    return AiohttpTransport(
        local_address=local_address,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


class LoadGenerator:
    """Runs a :class:`LoadPlan` against ``base_url`` and records every request as a Sample."""

    def __init__(
        self,
        base_url: str,
        plan: LoadPlan,
        *,
        prefix: str,
        request_timeout_s: float,
        clock: Callable[[], float] | None = None,
        transport: TransportFactory | None = None,
        seed: int = 1,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.plan = plan
        self.prefix = prefix
        self.request_timeout_s = request_timeout_s
        self._t0 = time.monotonic()
        self.clock = clock or (lambda: time.monotonic() - self._t0)
        self._transport = transport or default_transport
        self.seed = seed
        self.samples: list[Sample] = []
        self.health: list[Sample] = []
        self._stop = asyncio.Event()
        self._counter = 0
        self._drain_s = request_timeout_s

    def agent_id(self) -> str:
        return f"agent-{self.prefix}"

    def user_ids(self, spec: ClientSpec) -> list[str]:
        return [f"{self.prefix}-{spec.name}-u{k}" for k in range(spec.users)]

    def stop(self) -> None:
        self._stop.set()

    @contextlib.asynccontextmanager
    async def http_client(self, address: str) -> AsyncIterator[httpx.AsyncClient]:
        """A client of the load balancer whose connections leave from ``address``."""
        async with httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.request_timeout_s),
            transport=self._transport(address),
        ) as client:
            yield client

    async def run(self, duration_s: float, drain_s: float | None = None) -> None:
        """Generate load for ``duration_s`` (scenario clock), then wait for in-flight requests
        up to ``drain_s`` (default: the request timeout) and cancel the rest."""
        async with contextlib.AsyncExitStack() as stack:
            addresses = [c.address for c in self.plan.clients]
            addresses += [b.address for b in self.plan.bursts]
            clients: dict[str, httpx.AsyncClient] = {}
            for address in (*addresses, *PROBER_ADDRESSES):
                if address not in clients:
                    clients[address] = await stack.enter_async_context(self.http_client(address))
            tasks = [
                asyncio.create_task(self._client_loop(clients[spec.address], spec))
                for spec in self.plan.clients
            ]
            tasks += [
                asyncio.create_task(self._burst(clients[b.address], b)) for b in self.plan.bursts
            ]
            prober = asyncio.create_task(
                self._health_prober([clients[a] for a in PROBER_ADDRESSES])
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stop.wait(), timeout=max(0.0, duration_s - self.clock())
                )
            self._stop.set()
            drain = self.request_timeout_s if drain_s is None else drain_s
            self._drain_s = drain
            await prober
            _done, pending = await asyncio.wait(tasks, timeout=drain) if tasks else (set(), set())
            for task in pending:
                task.cancel()
            # surface a bug in a client loop (not a failed request: those are samples)
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, Exception):
                    raise outcome

    # -- the simulated clients -------------------------------------------------------------

    async def _client_loop(self, client: httpx.AsyncClient, spec: ClientSpec) -> None:
        """Requests at the client's pace, not at the server's: a new one every think time
        while fewer than ``max_in_flight`` are pending. A closed loop (wait for the answer,
        then think) would send almost nothing to a blocked server and hide exactly the
        latency a chaos scenario is about (coordinated omission)."""
        rng = random.Random(f"{self.seed}-{spec.name}")
        users = self.user_ids(spec)
        endpoints = list(spec.mix)
        weights = [spec.mix[e] for e in endpoints]
        in_flight: set[asyncio.Task[Sample]] = set()
        if spec.start_s > self.clock():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=spec.start_s - self.clock())
        try:
            while not self._stop.is_set():
                if spec.stop_s is not None and self.clock() >= spec.stop_s:
                    break
                if len(in_flight) < spec.max_in_flight:
                    endpoint = rng.choices(endpoints, weights)[0]
                    task = asyncio.create_task(
                        self.request(client, spec.name, endpoint, rng.choice(users), rng)
                    )
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                # jittered think time so that clients do not march in lock step
                think = spec.think_s * rng.uniform(0.5, 1.5)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=think)
            if in_flight:
                await asyncio.wait(set(in_flight))
        finally:
            for task in in_flight:
                task.cancel()

    async def _burst(self, client: httpx.AsyncClient, burst: BurstSpec) -> None:
        if burst.at_s > self.clock():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=burst.at_s - self.clock())
        if self._stop.is_set():
            return
        rng = random.Random(f"{self.seed}-{burst.name}")
        limiter = asyncio.Semaphore(burst.concurrency)

        async def one(i: int) -> None:
            user = f"{self.prefix}-{burst.name}-u{i if burst.spread_users else 0}"
            xff = forged_address(i + 1) if burst.forge_xff else None
            async with limiter:
                await self.request(client, burst.name, burst.endpoint, user, rng, forged_xff=xff)

        await asyncio.gather(*(one(i) for i in range(burst.count)))

    async def request(
        self,
        client: httpx.AsyncClient,
        name: str,
        endpoint: str,
        user_id: str,
        rng: random.Random,
        *,
        forged_xff: str | None = None,
    ) -> Sample:
        """Send one request of ``endpoint`` kind and record what came back. The client is
        who ``client``'s source address says; ``forged_xff`` claims to be someone else."""
        agent = self.agent_id()
        headers = {"X-Forwarded-For": forged_xff} if forged_xff else {}
        sample = Sample(
            t_s=self.clock(), endpoint=endpoint, client=name, status=None, latency_ms=0.0
        )
        sample.user_id, sample.agent_id = user_id, agent
        if endpoint == END:
            self._counter += 1
            cid = f"{self.prefix}-{name}-{self._counter}"
            sample.conversation_id = cid
            call = client.post(
                "/v1/conversations/end",
                json=conversation_body(rng, cid, user_id, agent),
                headers=headers,
            )
        elif endpoint == FRIENDSHIP:
            call = client.get(f"/v1/friendships/{user_id}/{agent}", headers=headers)
        elif endpoint == ACTIVITIES:
            call = client.post(
                "/v1/activities/suggest",
                json={"user_id": user_id, "agent_id": agent, "limit": 3},
                headers=headers,
            )
        elif endpoint in (HEALTH, READY):
            call = client.get(endpoint.split(" ", 1)[1], headers=headers)
        else:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {END}, {FRIENDSHIP}, ...")
        started = time.perf_counter()
        try:
            response = await call
        except httpx.HTTPError as exc:
            sample.latency_ms = (time.perf_counter() - started) * 1000
            sample.error = type(exc).__name__
        else:
            sample.latency_ms = (time.perf_counter() - started) * 1000
            sample.status = response.status_code
            sample.retry_after = response.headers.get("retry-after")
            _read_body(sample, response)
        (self.health if endpoint in (HEALTH, READY) and name == "prober" else self.samples).append(
            sample
        )
        return sample

    async def _health_prober(self, clients: Sequence[httpx.AsyncClient]) -> None:
        """A probe every ``health_interval_s``, concurrent (a blocked event loop shows up as
        many slow probes, not one), rotating over ``clients`` (4 source addresses) so the
        health limiter never throttles the prober itself."""
        in_flight: set[asyncio.Task[Sample]] = set()
        rng = random.Random(self.seed)
        n = 0
        while not self._stop.is_set():
            if len(in_flight) < self.plan.health_max_in_flight:
                n += 1
                task = asyncio.create_task(
                    self.request(
                        clients[n % len(clients)],
                        "prober",
                        self.plan.health_endpoint,
                        "prober",
                        rng,
                    )
                )
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.plan.health_interval_s)
        if in_flight:
            # probes still blocked at the end are the interesting ones: give them the drain
            await asyncio.wait(in_flight, timeout=self._drain_s)
            for task in in_flight:
                task.cancel()


def _read_body(sample: Sample, response: httpx.Response) -> None:
    try:
        body: Any = response.json()
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    error = body.get("error")
    if isinstance(error, str):
        sample.error = error
    degraded = body.get("degraded")
    if isinstance(degraded, list):
        sample.degraded = tuple(str(d) for d in degraded)
    delta = body.get("score_delta")
    if isinstance(delta, int):
        sample.score_delta = delta
