"""llm_429_storm: the LLM rate-limits every call (handbook B1: retry amplification).

Fault: the fake LLM answers 429 with ``Retry-After`` to every call for ~10 s. Legacy
retries each call 10 times in a tight loop (fixed sleep, Retry-After ignored) inside the
event loop: many LLM calls per user request and slow answers. Refactored retries at most
3 attempts per call honouring Retry-After, its breaker stops calling, and it answers
degraded: LLM calls per conversation end stay within the retry budget (3 tasks x 3).
"""

from __future__ import annotations

from dataclasses import replace

from chaos.loadgen import END, LoadPlan, standard_clients
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
    share,
)
from chaos.scenarios.faults import fake_faults
from chaos.scenarios.timeline import Timeline

TASKS_PER_END = 3  # emotion, questions, topics
RETRY_ATTEMPTS = 3  # handbook: 3 attempts


class Llm429Storm(Scenario):
    name = "llm_429_storm"
    description = (
        "every LLM call answers 429 + Retry-After: refactored keeps LLM calls per request "
        "within the retry budget and answers degraded; legacy amplifies with a tight retry loop"
    )

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(1.5 * ctx.lb_timeout_s, 6.0), recovery_s=1.0)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        faults = {"error": {"status": 429, "mode": "all", "retry_after_s": 1.0}}
        return [fake_faults("llm_429", "llm", faults, t.fault_start_s, t.fault_end_s)]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        # conversation ends only: the amplification is counted per conversation end
        return LoadPlan(clients=tuple(replace(c, mix={END: 1.0}) for c in standard_clients(6)))

    def duration_s(self, ctx: ScenarioContext) -> float:
        return self.timeline(ctx).end_s

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        statuses = m.llm_stats.get("responses_by_status", {})
        calls = m.llm_calls()
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            Expectation.check(
                "llm_answered_429",
                "the fake LLM really answered 429s",
                int(statuses.get("429", 0)),
                ">=",
                1,
                role="sanity",
            ),
            Expectation.check(
                "llm_calls_per_request",
                "analysis LLM calls per conversation end (retry budget: 3 tasks x 3 attempts)",
                calls["per_request"],
                "<=",
                TASKS_PER_END * RETRY_ATTEMPTS,
            ),
            Expectation.check(
                "conversation_end_2xx_share",
                "share of conversation ends answered 2xx (degraded) during the storm",
                share(during, is_2xx),
                ">=",
                0.95,
            ),
            Expectation.check(
                "conversation_end_p95_ms",
                "p95 conversation-end latency during the storm (half the LB timeout)",
                pct_ms(during, "p95"),
                "<",
                0.5 * ctx.lb_timeout_s * 1000,
                unit="ms",
            ),
            Expectation.check(
                "p1_alert_sent",
                "P1 alert cards (429 storm) received by the webhook",
                m.alerts()["P1"],
                ">=",
                1,
            ),
        ]


SCENARIO = Llm429Storm()
