"""llm_down: the LLM is unreachable, then comes back (handbook 3.2.1: circuit breaker).

Fault: the ``llm`` Toxiproxy proxy is disabled (connections refused) for 1.2 breaker
recovery timeouts, then re-enabled; the load continues for one more recovery timeout.
Refactored: the breaker opens after 5 failures (P0 alert), answers fail fast with
fallbacks, half-opens after the recovery timeout, and closes once the LLM answers again;
measured from ``circuit_breaker_transitions_total``. Legacy has no breaker: it keeps
calling a dead LLM and exposes no breaker metrics.
"""

from __future__ import annotations

from chaos.loadgen import LoadPlan, standard_clients
from chaos.scenarios.base import (
    Expectation,
    FaultStep,
    Measurements,
    Scenario,
    ScenarioContext,
    is_2xx,
    pct_ms,
    sanity_fault,
    sanity_load_during_fault,
    share_check,
)
from chaos.scenarios.faults import proxy_down
from chaos.scenarios.timeline import Timeline


class LlmDown(Scenario):
    name = "llm_down"
    description = (
        "LLM unreachable then back: the breaker opens (P0 alert), requests fail fast with "
        "fallbacks, the breaker half-opens and closes after recovery"
    )

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(
            fault_s=max(1.2 * ctx.breaker_recovery_s, 5.0),
            recovery_s=max(ctx.breaker_recovery_s + 2.5, 5.0),
        )

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        return [proxy_down("llm_down", "llm", t.fault_start_s, t.fault_end_s)]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(5))

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        _start, end = m.window()
        # the breaker needs one recovery timeout to half-open, then one good call to close
        tail = [s for s in m.after(end + ctx.breaker_recovery_s + 1.0) if s.status == 200]
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            Expectation.check(
                "breaker_opened",
                "LLM breaker transitions to open (circuit_breaker_transitions_total)",
                m.transitions_to("llm", "open"),
                ">=",
                1,
            ),
            Expectation.check(
                "breaker_half_opened",
                "LLM breaker transitions to half_open after the recovery timeout",
                m.transitions_to("llm", "half_open"),
                ">=",
                1,
            ),
            Expectation.check(
                "breaker_closed",
                "LLM breaker transitions back to closed once the LLM answers",
                m.transitions_to("llm", "closed"),
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
