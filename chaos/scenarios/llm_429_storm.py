"""llm_429_storm: the LLM rate-limits every call (retry amplification).

Fault: the fake LLM answers 429 with ``Retry-After`` to every call for ~10 s. Legacy
retries each call 10 times in a tight loop (fixed sleep, Retry-After ignored) inside the
event loop: many LLM calls per user request and slow answers. Refactored retries at most
3 attempts per call honouring Retry-After, its breaker stops calling, and it answers
degraded: LLM calls per conversation end stay within the retry budget (3 tasks x 3).
(Refactored's breaker opens within the first second of the storm, so its retries stop
too; the retry *wait* is checked where retries really happen: ``llm_429_transient``.)

Amplification is measured over the storm only, from outside the target: the analysis
calls that reached the fake LLM between the fault's start and end, divided by the
conversation ends the clients *sent* in that window (3 tasks x 3 attempts = 9 at most).
Legacy's blocked workers also delay the requests they have not reached yet, so its number
understates its 10-attempt loop; it is still far above refactored's, whose breaker stops
the calls after its threshold. (Dividing by the analysis tasks that ended in their
fallback, as this scenario once did, counted every task an open breaker failed fast as a
zero-call task: 9 attempts per call would still have passed.) The failed tasks are kept
in the result's facts as a diagnostic.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from chaos.load_plan import END, LoadPlan, standard_clients
from chaos.loadgen import LoadGenerator
from chaos.measure import failed_analysis_tasks
from chaos.scenarios.checks import (
    is_2xx,
    pct_ms,
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

TASKS_PER_END = 3  # emotion, questions, topics
RETRY_ATTEMPTS = 3  # the retry policy's 3 attempts (docs/conventions.md §11)


class Llm429Storm(Scenario):
    name = "llm_429_storm"
    description = (
        "every LLM call answers 429 + Retry-After: refactored keeps LLM calls per request "
        "within the retry budget and answers degraded; legacy amplifies with a tight retry loop"
    )
    restart_after = ("refactored",)  # breakers

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(1.2 * ctx.lb_timeout_s, 5.0), recovery_s=1.0)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        faults = {"error": {"status": 429, "mode": "all", "retry_after_s": 1.0}}
        return [fake_faults("llm_429", "llm", faults, t.fault_start_s, t.fault_end_s)]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        # conversation ends only: the amplification is counted per conversation end
        # ~1 conversation end per second per client: under the 100/minute limit per client
        clients = standard_clients(6, think_s=1.0)
        return LoadPlan(clients=tuple(replace(c, mix={END: 1.0}) for c in clients))

    async def during_load(self, ctx: ScenarioContext, gen: LoadGenerator) -> None:
        """Snapshot the fake LLM's counters right at the storm's start and end."""
        t = self.timeline(ctx)
        await asyncio.sleep(max(0.0, t.fault_start_s - 0.05 - ctx.now()))
        before = await ctx.fake("llm").stats()
        await asyncio.sleep(max(0.0, t.fault_end_s - 0.05 - ctx.now()))
        after = await ctx.fake("llm").stats()
        ctx.facts["storm_llm_calls"] = _analysis_calls(after) - _analysis_calls(before)

    async def finish(self, ctx: ScenarioContext, m: Measurements) -> None:

        # a diagnostic only (see the module docstring): not what the budget is judged on
        failed = await failed_analysis_tasks(ctx.endpoints.database_url, gen_agent(ctx))
        ctx.facts["storm_failed_tasks"] = failed

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        return [fake_answered_during(m, "llm", 429)]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        calls = ctx.facts.get("storm_llm_calls")
        sent = len(during)
        per_conversation = round(calls / sent, 2) if calls is not None and sent else None
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            sanity_llm_answered(m, 429),
            Expectation.check(
                "llm_calls_per_conversation",
                "analysis calls reaching the fake LLM during the storm per conversation end "
                "sent during it (retry budget: 3 tasks x 3 attempts)",
                per_conversation,
                "<=",
                TASKS_PER_END * RETRY_ATTEMPTS,
            ),
            share_check(
                "conversation_end_2xx_share",
                "share of conversation ends answered 2xx (degraded) during the storm",
                during,
                is_2xx,
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


def _analysis_calls(stats: dict[str, Any]) -> int:
    by_task = stats.get("calls_by_task", {})
    return sum(int(by_task.get(task, 0)) for task in ANALYSIS_TASKS)


def gen_agent(ctx: ScenarioContext) -> str:
    return f"agent-{ctx.prefix}"  # the load generator's agent id


SCENARIO = Llm429Storm()
