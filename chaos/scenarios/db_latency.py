"""db_latency: every database round trip becomes slower than the statement timeout.

Fault: a Toxiproxy ``latency`` toxic on the ``postgres`` proxy of twice the DB statement
timeout (10 s x scale). Legacy has no DB timeout and holds a pooled session for the whole
request (several round trips): requests outlive the LB timeout (504) and block the event
loop. Refactored's statement/command timeout fires: it answers 503 + ``Retry-After`` fast,
never a 504, and nothing is half-written.
"""

from __future__ import annotations

from chaos.load_plan import LoadPlan, standard_clients
from chaos.scenarios.checks import (
    count,
    integrity_expectations,
    is_2xx,
    pct_ms,
    sanity_fault,
    sanity_load_during_fault,
    share_check,
)
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.effects import added_latency
from chaos.scenarios.faults import toxic
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation


class DbLatency(Scenario):
    name = "db_latency"
    description = (
        "DB round trips slower than the statement timeout: refactored answers 503 + "
        "Retry-After fast (never 504), health stays fast, nothing half-written"
    )

    def delay_s(self, ctx: ScenarioContext) -> float:
        return 2 * ctx.db_statement_timeout_s

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(1.2 * ctx.lb_timeout_s, 5.0), recovery_s=1.5)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        latency_ms = int(self.delay_s(ctx) * 1000)
        return [
            toxic(
                "db_slow",
                "postgres",
                "latency",
                {"latency": latency_ms},
                t.fault_start_s,
                t.fault_end_s,
            )
        ]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(5))

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        # the client waited on the slow database: at least half a statement timeout (what
        # a request with a DB timeout waits; one without waits the whole delay, or more)
        return [added_latency(m, 0.5 * ctx.db_statement_timeout_s * 1000)]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        failed = [s for s in during if not is_2xx(s)]
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            Expectation.check(
                "no_504",
                "conversation ends answered 504 while the DB is slow",
                count(during, lambda s: s.status == 504),
                "==",
                0,
            ),
            share_check(
                "failures_are_503_retry_after",
                "failed conversation ends that are 503 with Retry-After (the DB is slow enough "
                "that some must fail; too few failures to judge fail the check)",
                failed,
                lambda s: s.status == 503 and s.retry_after is not None,
                ">=",
                0.95,
            ),
            Expectation.check(
                "conversation_end_p95_ms",
                "p95 conversation-end latency while the DB is slow (half the LB timeout)",
                pct_ms(during, "p95"),
                "<",
                0.5 * ctx.lb_timeout_s * 1000,
                unit="ms",
            ),
            Expectation.check(
                "health_p95_ms_during_fault",
                "/health latency p95 while the DB is slow",
                pct_ms(m.health_during(), "p95"),
                "<",
                0.2 * self.delay_s(ctx) * 1000,
                unit="ms",
            ),
            *integrity_expectations(m),
        ]


SCENARIO = DbLatency()
