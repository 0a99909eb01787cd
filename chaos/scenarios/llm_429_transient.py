"""llm_429_transient: the LLM rate-limits now and then (the retry must honour Retry-After).

Fault: every 3rd analysis call to the fake LLM answers 429 with ``Retry-After: 1`` for
~1.2 LB timeouts. Failures are interleaved with successes, so a breaker (5 failures in a
row) stays closed and the retries really happen: this is where the retry *wait* shows.
The fake LLM measures each retry's wait (the same call sent again) against the
``Retry-After`` it sent. Refactored waits at least that long (backoff 0.2 s x scale,
raised to the header) and recovers the analysis; legacy sleeps a fixed 0.2 s and asks
again, whatever the header says (a 429 storm in the making).
"""

from __future__ import annotations

from chaos.load_plan import LoadPlan, standard_clients
from chaos.scenarios.checks import (
    is_2xx,
    sanity_fault,
    sanity_llm_answered,
    sanity_load_during_fault,
    share_check,
)
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.effects import fake_answered_during
from chaos.scenarios.faults import fake_faults
from chaos.scenarios.measurements import ANALYSIS_TASKS, Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation

RETRY_AFTER_S = 1.0


class Llm429Transient(Scenario):
    name = "llm_429_transient"
    description = (
        "every 3rd LLM call answers 429 + Retry-After: refactored waits as asked and "
        "recovers the analysis; legacy retries after a fixed short sleep"
    )
    restart_after = ("refactored",)  # a breaker may have opened on an unlucky run

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(1.2 * ctx.lb_timeout_s, 5.0), recovery_s=1.0)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        faults = {
            "error": {"status": 429, "mode": "every_nth", "n": 3, "retry_after_s": RETRY_AFTER_S},
            "tasks": list(ANALYSIS_TASKS),
        }
        return [fake_faults("llm_429_every_3rd", "llm", faults, t.fault_start_s, t.fault_end_s)]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(5))

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        return [fake_answered_during(m, "llm", 429)]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        ok = [s for s in during if s.status == 200]
        retry_waits = m.llm_stats.get("retries_after_error") or {}
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            sanity_llm_answered(m, 429),
            Expectation.check(
                "retry_waits_honour_retry_after",
                "median wait before retrying a 429, as a fraction of its Retry-After (measured "
                "by the fake LLM: the same call sent again; missing: nothing was retried)",
                retry_waits.get("median_wait_over_retry_after"),
                ">=",
                0.9,
            ),
            share_check(
                "full_analysis_share",
                "200 answers during the fault with no fallback: the retries recovered the "
                "analysis (3 attempts: ~0.85; a single attempt: 1 - (2/3)^3 = 0.3)",
                ok,
                lambda s: not s.degraded,
                ">=",
                0.6,
            ),
            share_check(
                "conversation_end_2xx_share",
                "share of conversation ends answered 2xx during the fault",
                during,
                is_2xx,
                ">=",
                0.95,
            ),
        ]


SCENARIO = Llm429Transient()
