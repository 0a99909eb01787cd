"""timeout_ordering: the app must answer before the load balancer gives up (the ladder of
docs/conventions.md §11).

Fault: the fake LLM hangs every call (never answers) for 1.3 LB timeouts. The configured
ladder (``testbed.timeouts``) is LB (max(60 s x scale, app deadline + 1 s)) > app deadline
(55 s x scale) > LLM call (15 s x scale): the deadline answer has a second to cross Caddy.
Refactored answers every request itself (a degraded 200, or its own 504
``deadline_exceeded``) before Caddy's ``response_header_timeout``. Legacy waits forever:
every answer during the hang is Caddy's 504.
"""

from __future__ import annotations

from chaos.load_plan import LoadPlan, standard_clients
from chaos.scenarios.checks import count, is_lb_504, pct_ms, sanity_fault, sanity_load_during_fault
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.effects import fake_held_calls
from chaos.scenarios.faults import fake_faults
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation
from testbed.timeouts import MIN_GAP_S


class TimeoutOrdering(Scenario):
    name = "timeout_ordering"
    description = (
        "LLM hangs: refactored always answers before the LB's timeout (no 504 from Caddy); "
        "legacy's requests are cut by the LB"
    )
    restart_after = ("refactored",)  # breakers; hung legacy calls are released

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(1.3 * ctx.lb_timeout_s, 5.0), recovery_s=1.0)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        return [fake_faults("llm_hang", "llm", {"hang": True}, t.fault_start_s, t.fault_end_s)]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(5))

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        return [fake_held_calls(m, "llm")]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        during = m.during()
        cut_by = ctx.lb_timeout_s - MIN_GAP_S
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            Expectation.check(
                "timeouts_ordered",
                f"share of the conversations whose LLM calls the fake held that their caller "
                f"gave up on (cut every call) within the LB timeout minus {MIN_GAP_S:g} s "
                f"({cut_by:g} s) of the first, as the fake saw it: the dependencies give up "
                "first. The fake cannot tell the app's timeout from gunicorn killing a "
                "blocked worker (both close the connection): whether the app then answered "
                "before the LB is no_lb_504 and conversation_end_max_ms",
                cut_share(m, cut_by),
                ">=",
                0.9,
            ),
            Expectation.check(
                "no_lb_504",
                "requests the load balancer cut with its own 504 while the LLM hung",
                count(m.during(endpoint=None), is_lb_504),
                "==",
                0,
            ),
            Expectation.check(
                "conversation_end_max_ms",
                "slowest conversation end during the hang (must stay under the LB timeout)",
                pct_ms(during, "max"),
                "<",
                ctx.lb_timeout_s * 1000,
                unit="ms",
            ),
        ]


def cut_share(m: Measurements, within_s: float) -> float | None:
    """Of the conversations whose LLM calls the fake held, the share whose every call was
    cut by the caller within ``within_s`` of the first being held (sequential calls that
    are each cut in time can still add up past it). A conversation released by the hang's
    end before ``within_s`` says nothing (its caller had not had to decide yet); one that
    lasted longer, cut or released, was waited on past it."""
    stats = m.fake_stats_at("llm", float("inf"))
    conversations = (stats or {}).get("hangs", {}).get("conversations", [])
    in_time = [c for c in conversations if not c["released"] and c["span_s"] <= within_s]
    late = [c for c in conversations if c["span_s"] > within_s]
    decided = len(in_time) + len(late)
    return round(len(in_time) / decided, 4) if decided else None


SCENARIO = TimeoutOrdering()
