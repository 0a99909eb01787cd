"""llm_down: the LLM is down, then comes back (the circuit breaker's case).

Fault: the fake LLM answers 500 to every call for 2.5 breaker recovery timeouts, then
answers normally; the load continues for one more recovery timeout. (An error the fake
*answers*, not a refused connection: so the fake counts every call that reaches it, and the
breaker is seen from outside, the same way on both targets.)
Refactored: the breaker opens after 5 failures (P0 alert) and calls stop reaching the
fake: answers fail fast with fallbacks; after the recovery timeout one probe per worker
reaches it (half-open); once the LLM answers again a probe succeeds and full analyses
resume. Legacy has no breaker: it keeps sending every analysis call to the dead LLM.
The breaker's own ``circuit_breaker_transitions_total`` (refactored's /metrics) is kept in
the result as a diagnostic; no expectation reads it.
"""

from __future__ import annotations

from chaos.load_plan import END, LoadPlan, standard_clients
from chaos.scenarios.checks import (
    count,
    is_2xx,
    pct_ms,
    sanity_fault,
    sanity_load_during_fault,
    share_check,
)
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.effects import fake_answered_during
from chaos.scenarios.faults import fake_faults
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation

LLM_DOWN_STATUS = 500
# the breaker opens after 5 failures: well within this much of the outage under the load
OPEN_SETTLE_S = 1.5
# calls reaching the fake per conversation end once the breaker is open: a few probes in all
# (one per worker per recovery timeout), never the 3 analysis calls of each conversation
OPEN_CALLS_PER_END = 0.5


class LlmDown(Scenario):
    name = "llm_down"
    description = (
        "LLM unreachable then back: the breaker opens (P0 alert), requests fail fast with "
        "fallbacks, the breaker half-opens and closes after recovery"
    )

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(
            # the first probe comes one recovery timeout after the breaker opened, and the
            # opening itself may take seconds on a loaded machine: 2.5 recovery timeouts
            # keep that probe well inside (1.5 let it land past the end: breaker_probes 0)
            fault_s=max(2.5 * ctx.breaker_recovery_s, 5.0),
            recovery_s=max(ctx.breaker_recovery_s + 2.5, 5.0),
        )

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        faults = {"error": {"status": LLM_DOWN_STATUS, "mode": "all"}}
        return [fake_faults("llm_down", "llm", faults, t.fault_start_s, t.fault_end_s)]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(5))

    def open_period(self, m: Measurements) -> tuple[float, float]:
        """The part of the outage in which a breaker is open (after its first failures)."""
        start, end = m.window()
        return start + OPEN_SETTLE_S, end

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        return [fake_answered_during(m, "llm", LLM_DOWN_STATUS)]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        _start, end = m.window()
        # the breaker needs one recovery timeout to half-open, then one good call to close
        tail = [s for s in m.after(end + ctx.breaker_recovery_s + 1.0) if s.status == 200]
        open_from, open_to = self.open_period(m)
        open_calls = m.llm_calls_between(open_from, open_to)
        open_ends = count(m.samples, lambda s: s.endpoint == END and open_from <= s.t_s < open_to)
        per_end = round(open_calls / open_ends, 3) if open_calls is not None and open_ends else None
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            Expectation.check(
                "breaker_stops_calls",
                f"analysis calls reaching the fake LLM per conversation end sent, from "
                f"{OPEN_SETTLE_S:g} s into the outage to its end (the fake's counters: an open "
                "breaker sends only its probes; without one, every conversation sends 3)",
                per_end,
                "<=",
                OPEN_CALLS_PER_END,
            ),
            Expectation.check(
                "breaker_probes",
                "analysis calls reaching the fake LLM in that same period (>= 1: after its "
                "recovery timeout the breaker let a probe through, it is not stuck open)",
                open_calls,
                ">=",
                1,
            ),
            Expectation.check(
                "p0_alert_sent",
                "P0 alert cards (breaker open) received by the webhook",
                m.alerts()["P0"],
                ">=",
                1,
            ),
            share_check(
                "conversation_end_2xx_share",
                "share of conversation ends answered 2xx (with fallbacks) while the LLM is down",
                during,
                is_2xx,
                ">=",
                0.95,
            ),
            Expectation.check(
                "conversation_end_p95_ms",
                "p95 conversation-end latency while the LLM is down (fail fast)",
                pct_ms(during, "p95"),
                "<",
                0.25 * ctx.lb_timeout_s * 1000,
                unit="ms",
            ),
            share_check(
                "recovered_full_analysis_share",
                "200 answers after recovery with a real emotion analysis (not degraded)",
                tail,
                lambda s: s.degraded is not None and "emotion" not in s.degraded,
                ">=",
                0.9,
            ),
        ]


SCENARIO = LlmDown()
