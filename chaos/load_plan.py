"""What a chaos scenario's load is: its clients, bursts and health probe (:class:`LoadPlan`),
the endpoints it calls, the loopback addresses its clients leave from, and what each
request left behind (:class:`Sample`). ``chaos.loadgen`` runs a plan.

Each simulated client is a real, distinct peer: its connections leave from its own
loopback address (``127.A.B.C``, see :func:`client_address`; Linux routes all of
127.0.0.0/8 to ``lo``), and the load balancer forwards that address, which the rate limiter
keys on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

END = "POST /v1/conversations/end"
FRIENDSHIP = "GET /v1/friendships/{user_id}/{agent_id}"
ACTIVITIES = "POST /v1/activities/suggest"
HEALTH = "GET /health"
READY = "GET /health/ready"

DEFAULT_MIX: Mapping[str, float] = {END: 6.0, FRIENDSHIP: 3.0, ACTIVITIES: 1.0}

# source addresses (all in 127.0.0.0/8, never 127.0.0.1 itself, nor 127.0.0.0/16 where
# the resolver stubs live): clients 127.10-209.*, a scenario's own pollers 127.253.0.*,
# the health prober 127.254.0.1-4
PROBER_ADDRESSES = tuple(f"127.254.0.{i}" for i in range(1, 5))


@dataclass(slots=True)
class Sample:
    """One request as the client saw it. ``t_s`` is its start on the scenario's clock."""

    t_s: float
    endpoint: str
    client: str
    status: int | None  # None: transport error (refused, reset, client timeout)
    latency_ms: float
    retry_after: str | None = None
    error: str | None = None  # the body's "error" field, or the transport error's class
    degraded: tuple[str, ...] | None = None
    conversation_id: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    score_delta: int | None = None

    @property
    def end_s(self) -> float:
        return self.t_s + self.latency_ms / 1000.0


@dataclass(frozen=True)
class ClientSpec:
    """A simulated client: a request every ``think_s`` (jittered), at most
    ``max_in_flight`` pending."""

    name: str
    address: str  # the loopback source address its connections leave from
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    think_s: float = 0.6
    users: int = 3
    max_in_flight: int = 4
    start_s: float = 0.0
    stop_s: float | None = None  # None: until the load stops


@dataclass(frozen=True)
class BurstSpec:
    """One client (one source ``address``) firing ``count`` requests at ``endpoint`` as fast
    as ``concurrency`` allows (one connection per concurrent request).

    ``forge_xff``: every request claims another client in its own ``X-Forwarded-For``
    (:func:`forged_address`). ``spread_users``: every request names another user, so a
    route with ids in its path sees a new URL each time.
    """

    name: str
    address: str
    endpoint: str
    at_s: float
    count: int
    concurrency: int = 10
    forge_xff: bool = False
    spread_users: bool = False


@dataclass(frozen=True)
class LoadPlan:
    clients: tuple[ClientSpec, ...]
    bursts: tuple[BurstSpec, ...] = ()
    health_interval_s: float = 0.1
    health_max_in_flight: int = 30
    health_endpoint: str = HEALTH


def client_address(index: int) -> str:
    """The loopback source address of simulated client ``index`` (>= 0): 127.A.B.C with A in
    10..209 and C in 1..254, distinct for the first 200 x 254 x 254 indexes."""
    host, rest = index % 254 + 1, index // 254  # host part 1..254: never .0 or .255
    return f"127.{rest // 254 % 200 + 10}.{rest % 254}.{host}"


def poller_address(index: int) -> str:
    """A scenario's own poller (e.g. db_down's readiness check): 127.253.0.<index+1>."""
    return f"127.253.0.{index % 254 + 1}"


def forged_address(index: int) -> str:
    """What a hostile client claims in ``X-Forwarded-For``: 198.18.0.0/15 (benchmarking
    range, RFC 2544), a new one per ``index``."""
    return f"198.{18 + index // 65536 % 2}.{index // 256 % 256}.{index % 256}"


def standard_clients(count: int, *, think_s: float = 0.6, users: int = 3) -> tuple[ClientSpec, ...]:
    return tuple(
        ClientSpec(name=f"c{i}", address=client_address(i + 1), think_s=think_s, users=users)
        for i in range(count)
    )


def in_window(samples: Iterable[Sample], start_s: float, end_s: float) -> list[Sample]:
    """Samples whose request *started* inside ``[start_s, end_s)``."""
    return [s for s in samples if start_s <= s.t_s < end_s]
