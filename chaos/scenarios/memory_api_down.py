"""memory_api_down: the Memory API black-holes every connection (accepts, never answers).

Fault: a Toxiproxy ``timeout`` toxic with ``timeout: 0`` on the ``memory`` proxy (no data
passes and the connection is never closed: how a dead upstream behind a cloud LB looks).
Legacy's memory call has no timeout, so the request waits until the LB answers 504 and
the event loop is blocked meanwhile. Refactored times the call out and answers with
``degraded: ["memory"]``.
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
from chaos.scenarios.effects import answers_show_fault, fake_calls_during
from chaos.scenarios.faults import toxic
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation


class MemoryApiDown(Scenario):
    name = "memory_api_down"
    description = (
        "Memory API black-holed: refactored answers 200 with degraded memory, fast; "
        "legacy waits without a timeout until the LB answers 504"
    )
    restart_after = ("refactored",)  # breakers; legacy recovers when the toxic goes

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(1.3 * ctx.lb_timeout_s, 5.0), recovery_s=1.0)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        return [
            toxic(
                "memory_blackhole",
                "memory",
                "timeout",
                {"timeout": 0},
                t.fault_start_s,
                t.fault_end_s,
            )
        ]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(5))

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        # the calls reached the fake through the black hole, and no answer came back: the
        # client got the memory fallback or no 2xx at all
        return [
            fake_calls_during(m, "memory"),
            answers_show_fault(
                m,
                lambda s: not is_2xx(s) or "memory" in (s.degraded or ()),
                "not 2xx, or 2xx naming the memory fallback",
                0.5,
            ),
        ]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        ok = [s for s in during if s.status == 200]
        start, end = m.window()
        steady_from = start + 0.5 * ctx.lb_timeout_s
        steady = [s for s in during if s.t_s >= steady_from]
        steady_calls = m.fake_delta(
            "memory", steady_from, end, lambda st: float(st.get("calls_total", 0))
        )
        per_end = (
            round(steady_calls / len(steady), 3) if steady_calls is not None and steady else None
        )
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            Expectation.check(
                "breaker_stops_calls",
                "calls reaching the fake Memory API per conversation end sent, from half an LB "
                "timeout into the fault to its end (the fake's counters: an open breaker sends "
                "only probes; a plain timeout calls on every conversation. A worker blocked "
                "on its first call sends none either: no_504 and the latency judge that)",
                per_end,
                "<=",
                0.5,
            ),
            Expectation.check(
                "no_504",
                "conversation ends answered 504 while the Memory API is down",
                count(during, lambda s: s.status == 504),
                "==",
                0,
            ),
            share_check(
                "conversation_end_2xx_share",
                "share of conversation ends answered 2xx while the Memory API is down",
                during,
                is_2xx,
                ">=",
                0.95,
            ),
            share_check(
                "degraded_memory_share",
                "200 answers during the fault that name the memory fallback in `degraded`",
                ok,
                lambda s: "memory" in (s.degraded or ()),
                ">=",
                0.9,
            ),
            Expectation.check(
                "conversation_end_p95_ms",
                "p95 conversation-end latency once the fault is established (from half an LB "
                "timeout after it started: the first calls may spend their timeout budget "
                "before the breaker opens)",
                pct_ms(steady, "p95"),
                "<",
                0.5 * ctx.lb_timeout_s * 1000,
                unit="ms",
            ),
        ]


SCENARIO = MemoryApiDown()
