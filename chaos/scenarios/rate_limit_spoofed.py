"""rate_limit_spoofed: one hostile client tries three ways around the rate limiter.

Load: 3 normal clients (well under the limits) and one real hostile client (one source
address, through the load balancer) firing three bursts of 3 x the route's per-minute
limit, one route each, so each burst meets its own budget (limits count per client and
route template):

1. ``forged_xff``: ``POST /v1/activities/suggest``, each request claiming another client in
   its own ``X-Forwarded-For`` (the load balancer must replace it, the service must not
   trust it);
2. ``many_urls``: ``GET /v1/friendships/{user_id}/{agent_id}`` with a new user id each time
   (the limit counts the route template, not the URL);
3. ``both_workers``: ``GET /health`` over 32 concurrent connections, so both gunicorn
   workers serve it (the budget is shared by the workers, not one per worker: with
   per-worker counters about 2 x the limit would pass).

The limits are the ones the target is configured with (its ``RATE_LIMIT_*`` environment,
else the service's defaults). Refactored: at most the limit passes in each burst (1.5 x
allowed for a window boundary), the rest is 429 + ``Retry-After``, and the normal clients
are never throttled (the forged addresses took nobody's budget). Legacy has no limiter:
every request is served, so it fails (expected).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from chaos.load_plan import (
    ACTIVITIES,
    FRIENDSHIP,
    HEALTH,
    BurstSpec,
    LoadPlan,
    Sample,
    client_address,
    standard_clients,
)
from chaos.scenarios.checks import count, share
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import BASELINE_S, Timeline
from testbed.results import Expectation

SPOOFER = client_address(300)  # one real client for the three bursts
BURST_FACTOR = 3  # requests per burst: 3 x the route's per-minute limit
WINDOW_MARGIN = 1.5  # non-429 answers allowed per burst: the limit x this (window boundary)
BURST_GAP_S = 3.0


@dataclass(frozen=True)
class Attempt:
    """One way around the limiter: a burst at one route, and the limit that route has."""

    name: str
    endpoint: str
    setting: str  # the service's environment variable holding the route's limit
    default: str  # the service's default (refactored/core/settings.py)
    concurrency: int
    forge_xff: bool = False
    spread_users: bool = False


ATTEMPTS = (
    Attempt(
        "forged_xff", ACTIVITIES, "RATE_LIMIT_ACTIVITIES_SUGGEST", "60/minute", 8, forge_xff=True
    ),
    Attempt("many_urls", FRIENDSHIP, "RATE_LIMIT_DEFAULT", "100/minute", 8, spread_users=True),
    Attempt("both_workers", HEALTH, "RATE_LIMIT_HEALTH_CHECK", "300/minute", 32),
)
_PER_MINUTE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(?:1\s*)?minutes?\s*$", re.IGNORECASE)


def per_minute(limit: str, setting: str) -> int:
    """``"100/minute"`` (or ``"100 per minute"``) -> 100."""
    match = _PER_MINUTE.match(limit)
    if match is None:
        raise ValueError(f"{setting}={limit!r}: rate_limit_spoofed reads 'N/minute' limits only")
    return int(match.group(1))


def configured_limit(env: Mapping[str, str], attempt: Attempt) -> int:
    """The per-minute limit of ``attempt``'s route on a target configured with ``env``."""
    value = next((v for k, v in env.items() if k.upper() == attempt.setting), attempt.default)
    return per_minute(value, attempt.setting)


def not_throttled(s: Sample) -> bool:
    """An answer other than 429 (a transport error is no answer at all)."""
    return s.status is not None and s.status != 429


def peak_in_flight(samples: list[Sample]) -> int:
    """The most requests of ``samples`` that were pending at once."""
    events = sorted([(s.t_s, 1) for s in samples] + [(s.end_s, -1) for s in samples])
    peak = level = 0
    for _t, step in events:
        level += step
        peak = max(peak, level)
    return peak


class RateLimitSpoofed(Scenario):
    name = "rate_limit_spoofed"
    description = (
        "one client bursts with forged X-Forwarded-For, over many URLs of one route and over "
        "both workers: refactored lets at most the limit through each burst (429 + "
        "Retry-After); legacy has no limiter"
    )
    restart_after = ("refactored",)  # the limiter's windows remember the spoofer

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=BURST_GAP_S * len(ATTEMPTS), recovery_s=1.0)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        return []

    def burst_start_s(self, index: int) -> float:
        return BASELINE_S + index * BURST_GAP_S

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        bursts = tuple(
            BurstSpec(
                a.name,
                SPOOFER,
                a.endpoint,
                at_s=self.burst_start_s(i),
                count=BURST_FACTOR * configured_limit(ctx.endpoints.env, a),
                concurrency=a.concurrency,
                forge_xff=a.forge_xff,
                spread_users=a.spread_users,
            )
            for i, a in enumerate(ATTEMPTS)
        )
        return LoadPlan(clients=standard_clients(3), bursts=bursts)

    async def finish(self, ctx: ScenarioContext, m: Measurements) -> None:
        bursts: dict[str, dict[str, int]] = {}
        for i, a in enumerate(ATTEMPTS):
            start = self.burst_start_s(i)
            m.windows.append({"label": a.name, "start_s": start, "end_s": start + BURST_GAP_S})
            statuses = Counter(str(s.status) for s in m.samples if s.client == a.name)
            bursts[a.name] = dict(sorted(statuses.items()))
        m.extra["burst_status_counts"] = bursts  # "None": no answer (transport error)

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        out: list[Expectation] = []
        for a in ATTEMPTS:
            out += self.evaluate_burst(a, configured_limit(ctx.endpoints.env, a), m)
        both = [s for s in m.samples if s.client == "both_workers"]
        others = [s for s in m.samples if s.client not in {a.name for a in ATTEMPTS}]
        return [
            *out,
            Expectation.check(
                "both_workers_in_flight",
                "most both_workers requests pending at once (connections the LB spreads over "
                "the workers)",
                peak_in_flight(both),
                ">=",
                16,
                role="sanity",
            ),
            Expectation.check(
                "others_not_limited",
                "429s answered to the normal clients",
                count(others, lambda s: s.status == 429),
                "==",
                0,
            ),
        ]

    def evaluate_burst(self, a: Attempt, limit: int, m: Measurements) -> list[Expectation]:
        burst = [s for s in m.samples if s.client == a.name]
        limited = [s for s in burst if s.status == 429]
        sent = BURST_FACTOR * limit
        return [
            Expectation.check(
                f"{a.name}_answered",
                f"{a.name} requests answered (of {sent}: {BURST_FACTOR} x the limit)",
                count(burst, lambda s: s.status is not None),
                ">=",
                0.9 * sent,
                role="sanity",
            ),
            Expectation.check(
                f"{a.name}_passed",
                f"{a.name} answers other than 429 within a minute ({a.endpoint}: "
                f"{limit}/minute; {WINDOW_MARGIN:g} x allows a window boundary, 2 x would be "
                "one budget per worker)",
                count(burst, not_throttled),
                "<=",
                WINDOW_MARGIN * limit,
            ),
            Expectation.check(
                f"{a.name}_429_share",
                f"share of {a.name} requests answered 429",
                share(burst, lambda s: s.status == 429),
                ">=",
                round(1 - WINDOW_MARGIN / BURST_FACTOR, 4),
            ),
            Expectation.check(
                f"{a.name}_429_retry_after",
                f"share of {a.name} 429s carrying Retry-After",
                share(limited, lambda s: s.retry_after is not None),
                ">=",
                1.0,
            ),
        ]


SCENARIO = RateLimitSpoofed()
