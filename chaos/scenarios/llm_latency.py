"""llm_latency: the LLM answers, but slower than the app's LLM timeout (docs/chaos.md).

Fault: a Toxiproxy ``latency`` toxic on the ``llm`` proxy, twice the LLM call timeout
(15 s x scale), for 1.3 load-balancer timeouts. Legacy calls the LLM synchronously with no
timeout inside ``async def``: every request takes 3 x the latency (> the LB timeout, so
504s) and the worker's event loop is blocked (the health probe waits too). Refactored
times the call out, falls back (degraded emotion/questions/topics) and answers fast.
"""

from __future__ import annotations

from chaos.load_plan import LoadPlan, standard_clients
from chaos.scenarios.checks import (
    count,
    is_2xx,
    pct_ms,
    sanity_fault,
    sanity_load_during_fault,
    share_check,
)
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.effects import added_latency, fake_calls_during
from chaos.scenarios.faults import toxic
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation


class LlmLatency(Scenario):
    name = "llm_latency"
    description = (
        "LLM slower than its timeout: refactored answers fast with degraded analysis, "
        "no 504, health stays fast; legacy blocks its event loop and the LB answers 504"
    )
    restart_after = ("refactored",)  # breakers; legacy recovers when the toxic goes

    def delay_s(self, ctx: ScenarioContext) -> float:
        return 2 * ctx.llm_timeout_s

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(1.3 * ctx.lb_timeout_s, 4.0), recovery_s=1.5)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        latency_ms = int(self.delay_s(ctx) * 1000)
        return [
            toxic(
                "llm_slow",
                "llm",
                "latency",
                {"latency": latency_ms},
                t.fault_start_s,
                t.fault_end_s,
            )
        ]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(6))

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        # the calls crossed the slow proxy, and the client waited: at least half of what
        # the first call waits (the LLM timeout with one, the whole delay without)
        waited_s = min(self.delay_s(ctx), ctx.llm_timeout_s)
        return [fake_calls_during(m, "llm"), added_latency(m, 0.5 * waited_s * 1000)]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        ok = [s for s in during if s.status == 200]
        delay_ms = self.delay_s(ctx) * 1000
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            Expectation.check(
                "no_504",
                "conversation ends answered 504 (LB gave up) during the slow LLM",
                count(during, lambda s: s.status == 504),
                "==",
                0,
            ),
            share_check(
                "conversation_end_2xx_share",
                "share of conversation ends answered 2xx during the fault",
                during,
                is_2xx,
                ">=",
                0.95,
            ),
            Expectation.check(
                "conversation_end_p50_ms",
                "median conversation-end latency during the fault (half the injected delay)",
                pct_ms(during, "p50"),
                "<",
                0.5 * delay_ms,
                unit="ms",
            ),
            share_check(
                "degraded_emotion_share",
                "200 answers during the fault that name the emotion fallback in `degraded`",
                ok,
                lambda s: "emotion" in (s.degraded or ()),
                ">=",
                0.5,
            ),
            Expectation.check(
                "health_p95_ms_during_fault",
                "/health latency p95 during the fault (a blocked event loop shows here)",
                pct_ms(m.health_during(), "p95"),
                "<",
                0.2 * delay_ms,
                unit="ms",
            ),
        ]


SCENARIO = LlmLatency()
