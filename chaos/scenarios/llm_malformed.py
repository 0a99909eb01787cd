"""llm_malformed: the LLM answers 200, but the body is not the task's JSON.

Fault: the fake LLM's ``malformed`` mode (every call answered 200 with a truncated,
unparseable completion) for 1.3 load-balancer timeouts. Neither service can use the
answer; both fall back per task (degraded emotion/questions/topics) and answer 200. What
differs is what the on-call sees: legacy posts one P2 card ("LLM fallback used") per
degraded conversation, an alert storm for as long as the LLM misbehaves; refactored
collects its P2 alerts and posts one summary card per alert window. A malformed answer is
not a transient failure: it must not be retried either (no more than the three analysis
calls per conversation end).
"""

from __future__ import annotations

from chaos.load_plan import END, LoadPlan, standard_clients
from chaos.scenarios.checks import is_2xx, sanity_fault, sanity_load_during_fault, share_check
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.effects import answers_show_fault, fake_calls_during
from chaos.scenarios.faults import fake_faults
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation

# P2 cards per degraded answer: a summary per alert window is far below, a card per
# answer is 1.0; the bound sits between the two with wide margins both ways
MAX_P2_CARDS_PER_DEGRADED = 0.25
MIN_DEGRADED_ANSWERS = 10  # a ratio over fewer proves nothing


class LlmMalformed(Scenario):
    name = "llm_malformed"
    description = (
        "LLM answers 200 with a body that is not the task's JSON: both fall back, "
        "refactored batches its P2 alerts; legacy posts one card per degraded conversation"
    )
    restart_after = ("refactored",)  # breakers and the P2 window; legacy keeps no state

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(1.3 * ctx.lb_timeout_s, 4.0), recovery_s=1.5)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        malformed = {"malformed": {"mode": "all"}}
        return [fake_faults("llm_malformed", "llm", malformed, t.fault_start_s, t.fault_end_s)]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(6))

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        return [
            fake_calls_during(m, "llm"),
            answers_show_fault(
                m,
                lambda s: "emotion" in (s.degraded or ()),
                "the emotion fallback named in `degraded`",
                0.5,
            ),
        ]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        degraded = [s for s in m.samples if s.endpoint == END and is_2xx(s) and s.degraded]
        p2_cards = m.alerts()["P2"]
        enough = len(degraded) >= MIN_DEGRADED_ANSWERS
        ratio = round(p2_cards / len(degraded), 3) if enough else None
        start, end = m.window()
        calls = m.llm_calls_between(start, end)
        ends = len(during)
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            share_check(
                "conversation_end_2xx_share",
                "share of conversation ends answered 2xx while the LLM answered garbage",
                during,
                is_2xx,
                ">=",
                0.95,
            ),
            Expectation.check(
                "llm_calls_per_end_during_fault",
                "analysis calls that reached the LLM per conversation end during the fault "
                "(a malformed answer is not retried: three tasks, one call each)",
                round(calls / ends, 3) if calls is not None and ends else None,
                "<=",
                3.0,
            ),
            Expectation.check(
                "p2_cards_per_degraded_answer",
                f"P2 alert cards per degraded 2xx answer over the run ({p2_cards} cards, "
                f"{len(degraded)} degraded answers; one summary per alert window, not one "
                "card per request)",
                ratio,
                "<=",
                MAX_P2_CARDS_PER_DEGRADED,
            ),
        ]


SCENARIO = LlmMalformed()
