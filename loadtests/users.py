"""Locust user classes: HTTP only, through the load balancer (never imports service code).

The evening-to-night mix: people finishing conversations (the expensive call:
three LLM analyses, the Memory API, one transaction), people looking at their
friendship, people asking for activity ideas, and the LB's own health probe.
Each simulated user is its own client: its connections leave from its own loopback
address (:mod:`loadtests.source_address`), the peer the load balancer forwards and the
refactored rate limiter keys on; nobody sends an ``X-Forwarded-For`` (the load balancer
would replace it). The ``Burster`` of ``rate_limit_burst`` is one client (one address)
hammering; a ``BenchSuggester`` moves to a new address every few dozen requests.

Configuration comes from the environment (the load runner sets it):
``LOADTEST_RUN_ID`` (makes conversation ids unique per run); the time scale is the
process's (``Session.time_scale``, set by the plugin from ``TIME_SCALE`` or the stack).
"""

from __future__ import annotations

import os
import random
import uuid
from typing import Any

from locust import FastHttpUser, between, constant, constant_throughput, task
from locust.env import Environment

from loadtests.conversations import make_conversation
from loadtests.model import LB_TIMEOUT_S
from loadtests.session import Session
from loadtests.source_address import BURST_ADDRESS, SourceBoundClientPool, next_user_address

# conversation ids are at most 64 characters (the API's limit): keep the run id short
RUN_ID = (os.environ.get("LOADTEST_RUN_ID") or uuid.uuid4().hex)[:12]
USER_POOL = int(os.environ.get("LOADTEST_USER_POOL", "400"))
AGENTS = ("agent-luna", "agent-minh", "agent-sol")

# A bench user's requests per address: under the 60/minute limit of the route it calls,
# so no address is ever throttled however long the bench runs
BENCH_REQUESTS_PER_ADDRESS = 50


def process_index(environment: Environment) -> int:
    """This Locust process's worker index (0 when Locust runs in one process): addresses
    differ between the processes of ``--processes``."""
    return max(0, int(getattr(environment.runner, "worker_index", 0) or 0))


def friendship_key(rng: random.Random) -> tuple[str, str]:
    """A (user, agent) pair from a bounded pool, so readers find what enders wrote."""
    return f"u-{RUN_ID}-{rng.randrange(USER_POOL)}", rng.choice(AGENTS)


class ContextServiceUser(FastHttpUser):
    """One client of the context service (its own source address)."""

    abstract = True
    connection_timeout = 10.0
    group = "normal"
    # Windows (seconds since the test started) when this class works; None = always.
    # Locust's dispatcher does not add fixed_count users when a later shape stage
    # brings a new class, so every class is spawned from the start and gates itself.
    active_windows: tuple[tuple[float, float], ...] | None = None

    def __init__(self, environment: Environment) -> None:
        # Longer than the LB timeout: the LB must be the one that gives up (and says 504).
        self.network_timeout = 2 * LB_TIMEOUT_S * Session.time_scale + 5
        # before FastHttpUser builds its session, which then uses this pool
        self.client_address = self.first_address(environment)
        self.bound_pool = SourceBoundClientPool(
            self.client_address,
            network_timeout=self.network_timeout,
            connection_timeout=self.connection_timeout,
            concurrency=self.concurrency,
        )
        self.client_pool = self.bound_pool
        super().__init__(environment)

    def first_address(self, environment: Environment) -> str:
        return next_user_address(process_index(environment))

    def active(self) -> bool:
        if self.active_windows is None:
            return True
        shape = self.environment.shape_class
        now = shape.get_run_time() if shape is not None else 0.0
        return any(start <= now < end for start, end in self.active_windows)

    def on_start(self) -> None:
        self.rng = random.Random()

    def context(self) -> dict[str, Any]:
        return {"group": self.group}


class ConversationEnder(ContextServiceUser):
    """Ends a conversation (English or Vietnamese); now and then the app retries one."""

    weight = 5
    wait_time = between(1, 3)

    def on_start(self) -> None:
        super().on_start()
        self.sent: list[dict[str, Any]] = []

    @task
    def end_conversation(self) -> None:
        if self.sent and self.rng.random() < 0.02:
            body = self.rng.choice(self.sent)  # the mobile app's retry: idempotent replay
        else:
            user_id, agent_id = friendship_key(self.rng)
            body = make_conversation(
                self.rng,
                conversation_id=f"c-{RUN_ID}-{uuid.uuid4().hex[:24]}",
                user_id=user_id,
                agent_id=agent_id,
            )
            self.sent = [*self.sent[-9:], body]
        self.client.post(
            "/v1/conversations/end",
            json=body,
            name="POST /v1/conversations/end",
        )


class FriendshipReader(ContextServiceUser):
    """Opens the friendship screen; 404 (no friendship yet) is a normal answer."""

    weight = 3
    wait_time = between(0.5, 2)

    @task
    def read_friendship(self) -> None:
        user_id, agent_id = friendship_key(self.rng)
        with self.client.get(
            f"/v1/friendships/{user_id}/{agent_id}",
            name="GET /v1/friendships/{user_id}/{agent_id}",
            catch_response=True,
        ) as response:
            if response.status_code == 404:
                response.success()


class ActivitySuggester(ContextServiceUser):
    weight = 2
    wait_time = between(1, 3)

    @task
    def suggest(self) -> None:
        user_id, agent_id = friendship_key(self.rng)
        self.client.post(
            "/v1/activities/suggest",
            json={"user_id": user_id, "agent_id": agent_id, "limit": self.rng.randint(1, 5)},
            name="POST /v1/activities/suggest",
        )


class HealthProber(ContextServiceUser):
    """The load balancer's health check, seen from outside: exactly one, twice a second."""

    fixed_count = 1
    wait_time = constant_throughput(2)

    @task
    def probe(self) -> None:
        self.client.get("/health", name="GET /health")


class Burster(ContextServiceUser):
    """rate_limit_burst: one client (one address) asking for activities ~50 times a second."""

    fixed_count = 2
    wait_time = constant_throughput(25)
    group = "burst"

    def first_address(self, environment: Environment) -> str:
        return BURST_ADDRESS

    @task
    def burst(self) -> None:
        if not self.active():
            return
        with self.client.post(
            "/v1/activities/suggest",
            json={"user_id": f"u-{RUN_ID}-burst", "agent_id": AGENTS[0], "limit": 3},
            name="POST /v1/activities/suggest",
            catch_response=True,
        ) as response:
            if response.status_code == 429:
                response.success()  # being throttled is the expected answer


class ClosedLoopBenchUser(ContextServiceUser):
    """bench: a closed loop (no think time), so concurrency = number of users.

    Every few dozen requests the user moves to a new address (new connections), like
    many real clients: the benchmark measures throughput, not the per-client rate
    limiter.
    """

    abstract = True
    wait_time = constant(0)
    group = "bench"

    def on_start(self) -> None:
        super().on_start()
        self.sent = 0

    def next_request(self) -> None:
        """Count one request, moving to a new address when this one has sent its share."""
        if self.sent and self.sent % BENCH_REQUESTS_PER_ADDRESS == 0:
            self.client_address = next_user_address(process_index(self.environment))
            self.bound_pool.rebind(self.client_address)
        self.sent += 1


class BenchSuggester(ClosedLoopBenchUser):
    """bench ``suggest``: one friendship read and one LLM call per request."""

    @task
    def suggest(self) -> None:
        self.next_request()
        user_id, agent_id = friendship_key(self.rng)
        self.client.post(
            "/v1/activities/suggest",
            json={"user_id": user_id, "agent_id": agent_id, "limit": 3},
            name="POST /v1/activities/suggest",
        )


class BenchConversationEnder(ClosedLoopBenchUser):
    """bench ``conversation_end``: a new conversation each time (three concurrent LLM
    calls on refactored, the Memory API, one transaction with the outbox event)."""

    @task
    def end_conversation(self) -> None:
        self.next_request()
        user_id, agent_id = friendship_key(self.rng)
        body = make_conversation(
            self.rng,
            conversation_id=f"b-{RUN_ID}-{uuid.uuid4().hex[:24]}",
            user_id=user_id,
            agent_id=agent_id,
            late_sync_fraction=0.0,
        )
        self.client.post("/v1/conversations/end", json=body, name="POST /v1/conversations/end")


USER_CLASSES: dict[str, type[ContextServiceUser]] = {
    cls.__name__: cls
    for cls in (
        ConversationEnder,
        FriendshipReader,
        ActivitySuggester,
        HealthProber,
        Burster,
        BenchSuggester,
        BenchConversationEnder,
    )
}
