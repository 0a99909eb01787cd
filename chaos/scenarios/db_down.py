"""db_down: PostgreSQL unreachable, then back (a P0: docs/conventions.md §9).

Fault: the ``postgres`` Toxiproxy proxy is disabled (listener closed, open connections
cut) for one LB timeout. A readiness prober polls ``/health/ready`` beside the load.
Refactored: 503 + ``Retry-After`` fast, readiness 503 during the outage, 2xx again after
re-enabling, nothing half-written. Legacy: 500s from the driver error.
"""

from __future__ import annotations

import asyncio
import random

from chaos.load_plan import READY, LoadPlan, Sample, poller_address, standard_clients
from chaos.loadgen import LoadGenerator
from chaos.scenarios.checks import (
    integrity_expectations,
    is_2xx,
    pct_ms,
    sanity_fault,
    sanity_load_during_fault,
    share_check,
)
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.effects import answers_show_fault
from chaos.scenarios.faults import proxy_down
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation

RECOVERY_GRACE_S = 2.0  # pools reconnect on first use after the proxy is back


class DbDown(Scenario):
    name = "db_down"
    description = (
        "DB unreachable then back: refactored answers 503 + Retry-After fast, readiness "
        "fails during the outage, recovers after, nothing half-written"
    )

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(ctx.lb_timeout_s, 5.0), recovery_s=RECOVERY_GRACE_S + 2.5)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        return [proxy_down("db_down", "postgres", t.fault_start_s, t.fault_end_s)]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(5))

    async def during_load(self, ctx: ScenarioContext, gen: LoadGenerator) -> None:
        """Poll readiness every 0.5 s through the LB (its own client address)."""
        rng = random.Random(7)
        async with gen.http_client(poller_address(0)) as client:
            while ctx.now() < self.duration_s(ctx):
                await gen.request(client, "ready", READY, "ready", rng)
                await asyncio.sleep(0.5)

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        # a conversation end must write to the database: with it gone, no 2xx (once the
        # connections open at the cut have failed)
        return [answers_show_fault(m, lambda s: not is_2xx(s), "not 2xx", 0.5, settle_s=0.5)]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        start, end = m.window()
        ready: list[Sample] = [s for s in m.samples if s.endpoint == READY]
        ready_during = [s for s in ready if start + 0.5 <= s.t_s < end]
        after = m.after(end + RECOVERY_GRACE_S)
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            share_check(
                "db_down_503_retry_after_share",
                "conversation ends during the outage answered 503 with Retry-After",
                during,
                lambda s: s.status == 503 and s.retry_after is not None,
                ">=",
                0.9,
            ),
            Expectation.check(
                "conversation_end_p95_ms",
                "p95 conversation-end latency during the outage (fail fast: LB timeout / 4)",
                pct_ms(during, "p95"),
                "<",
                0.25 * ctx.lb_timeout_s * 1000,
                unit="ms",
            ),
            share_check(
                "readiness_503_share",
                "/health/ready probes during the outage answered 503",
                ready_during,
                lambda s: s.status == 503,
                ">=",
                0.8,
            ),
            share_check(
                "recovered_2xx_share",
                f"conversation ends answered 2xx from {RECOVERY_GRACE_S:g} s after the DB is back",
                after,
                is_2xx,
                ">=",
                0.95,
            ),
            *integrity_expectations(m),
        ]


SCENARIO = DbDown()
