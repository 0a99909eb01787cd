"""Faults that bite, and the outside measurements both targets are judged on (no I/O).

A fault the injector confirmed but that changed nothing must leave the run ``invalid``;
the breaker, the timeout ladder and retry amplification are read from what the fakes and
the client saw, the same way on legacy and refactored.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from chaos.load_plan import END
from chaos.measure import sample_fakes
from chaos.scenarios import registry
from chaos.scenarios.broker_down import _Consumer
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.effects import (
    added_latency,
    answers_show_fault,
    fake_answered_during,
    fake_calls_during,
    fake_held_calls,
)
from chaos.scenarios.engine import build_result
from chaos.scenarios.llm_down import OPEN_SETTLE_S
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from testbed.target import FakeInfo

from .helpers import context, measurements, samples

pytestmark = pytest.mark.unit

NOT_RUN = "2026-01-01T00:00:00+00:00"


def by_name(expectations):  # type: ignore[no-untyped-def]
    return {e.name: e for e in expectations}


def flat_llm(t_end: float = 60.0) -> list[tuple[float, dict[str, Any]]]:
    """The fake LLM's counters, sampled but never moving: nothing reached it."""
    still = {"calls_total": 0, "calls_by_task": {}, "responses_by_status": {}, "hangs": {}}
    return [(t / 2, still) for t in range(int(2 * t_end))]


def llm_series(calls_at: list[float], status: int = 200) -> list[tuple[float, dict[str, Any]]]:
    """Counters sampled every 0.2 s for 30 s, one analysis call at each time in ``calls_at``."""
    out = []
    for i in range(150):
        t = i * 0.2
        n = sum(1 for c in calls_at if c <= t)
        out.append(
            (
                t,
                {
                    "calls_total": n,
                    "calls_by_task": {"emotion": n},
                    "responses_by_status": {str(status): n},
                },
            )
        )
    return out


def healthy(scenario: Scenario, ctx: ScenarioContext) -> Measurements:
    """Fast 200s all along, the fault windows where the scenario puts them, and fakes that
    saw nothing: what a fault that did not bite looks like from outside."""
    timeline = scenario.timeline(ctx)
    load = samples(120, start_s=0, end_s=timeline.end_s, latency_ms=20.0, degraded=())
    m = measurements(load, window=(timeline.fault_start_s, timeline.fault_end_s))
    m.windows = [
        {"label": step.label, "start_s": step.start_s, "end_s": step.end_s}
        for step in scenario.faults(ctx)
    ]
    m.windows.append({"label": "nightly_job", "start_s": timeline.fault_start_s + 0.5,
                      "end_s": timeline.fault_end_s})  # fmt: skip
    m.fake_series = {"llm": flat_llm(), "memory": flat_llm()}
    m.extra["events"] = {"delivered_during_outage": 12}  # the broker kept delivering
    m.integrity = {"lost_updates": 0, "duplicated_updates": 0, "half_written": 0,
                   "topic_mismatches": 0}  # fmt: skip
    return m


FAULTED = [name for name, s in registry().items() if s.faults(context())]


def test_every_scenario_with_a_fault_names_its_effect_check() -> None:
    assert len(FAULTED) >= 10
    for name in FAULTED:
        scenario = registry()[name]
        assert type(scenario).fault_effect is not Scenario.fault_effect, name


@pytest.mark.parametrize("name", FAULTED)
@pytest.mark.parametrize("target", ["legacy", "refactored"])
def test_a_fault_that_changed_nothing_makes_the_run_invalid_not_a_pass(
    name: str, target: str
) -> None:
    scenario = registry()[name]
    ctx = context(target)
    m = healthy(scenario, ctx)
    result = build_result(scenario, ctx, m, scenario.expectations(ctx, m), NOT_RUN)
    assert result.verdict == "invalid"
    effects = [e for e in result.expectations if e.role == "sanity" and not e.passed]
    assert any(e.name.startswith("effect_") for e in effects), [e.describe() for e in effects]


def test_a_scenario_with_faults_and_no_effect_check_is_invalid() -> None:
    class Undeclared(Scenario):
        name = "undeclared"
        description = "a fault nobody checks"

        def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
            async def noop(_ctx: ScenarioContext) -> None:
                return None

            async def yes(_ctx: ScenarioContext) -> bool:
                return True

            return [FaultStep("f", 1.0, 2.0, yes, noop)]

        def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Any]:
            return []

    scenario = Undeclared()
    ctx = context()
    m = measurements(samples(10, start_s=0, end_s=3))
    (check,) = scenario.expectations(ctx, m)
    assert check.name == "fault_effect_declared" and check.role == "sanity"
    assert not check.passed
    # a scenario without fault steps (a burst of its own load) has nothing to declare
    assert registry()["rate_limit_burst"].fault_effect(ctx, m) == []


def test_fake_counters_are_read_as_deltas_over_the_window() -> None:
    m = measurements(samples(10, start_s=0, end_s=12), window=(2, 6))
    m.fake_series = {"llm": llm_series([1.0, 2.5, 3.0, 7.0], status=500)}
    assert m.llm_calls_between(2.0, 6.0) == 2
    assert fake_calls_during(m, "llm").observed == 2
    assert fake_answered_during(m, "llm", 500).passed
    assert not fake_answered_during(m, "llm", 429).passed
    m.fake_series = {}
    assert fake_calls_during(m, "llm").observed is None  # never sampled: not a pass


def test_added_latency_is_the_windows_worst_over_the_baselines_median() -> None:
    load = samples(10, start_s=0, end_s=1.9, latency_ms=20.0) + samples(
        5, start_s=2, end_s=6, latency_ms=1520.0
    )
    m = measurements(load, window=(2, 6))
    check = added_latency(m, 750.0)
    assert check.observed == 1500.0 and check.passed
    unchanged = measurements(samples(20, start_s=0, end_s=6, latency_ms=20.0), window=(2, 6))
    assert added_latency(unchanged, 750.0).observed == 0.0
    assert not added_latency(unchanged, 750.0).passed


def test_answers_show_the_fault_when_they_are_errors_or_name_the_fallback() -> None:
    load = samples(4, start_s=2, end_s=6, status=503) + samples(4, start_s=2, end_s=6)
    m = measurements(load, window=(2, 6))
    check = answers_show_fault(m, lambda s: s.status != 200, "not 2xx", 0.5)
    assert check.observed == 0.5 and check.passed
    healthy_load = measurements(samples(8, start_s=2, end_s=6), window=(2, 6))
    assert not answers_show_fault(healthy_load, lambda s: s.status != 200, "x", 0.5).passed


def test_held_calls_come_from_the_fakes_last_reading() -> None:
    m = measurements(samples(5, start_s=0, end_s=3))
    m.fake_series = {"llm": [(0.0, {}), (9.0, {"hangs": {"held": 3}})]}
    assert fake_held_calls(m).observed == 3 and fake_held_calls(m).passed
    m.fake_series = {"llm": [(0.0, {}), (9.0, {"hangs": {"held": 0}})]}
    assert not fake_held_calls(m).passed


# ---- llm_down: the breaker, from the fake LLM's counters ----------------------------------


def llm_down_run(target: str, calls_at: list[float]) -> tuple[ScenarioContext, Measurements]:
    ctx = context(target)
    window = (2.0, 11.0)
    load = samples(45, start_s=0, end_s=20, degraded=("emotion",))
    m = measurements(load, window=window)
    m.fake_series = {"llm": llm_series(calls_at, status=500)}
    return ctx, m


def test_llm_down_sees_a_breaker_stop_the_calls_then_probe() -> None:
    scenario = registry()["llm_down"]
    # the first failures, then one probe per worker a recovery timeout later
    ctx, m = llm_down_run("refactored", [2.1, 2.2, 2.3, 2.4, 2.5, 8.6, 8.7])
    checks = by_name(scenario.expectations(ctx, m))
    assert checks["breaker_stops_calls"].passed, checks["breaker_stops_calls"].describe()
    assert checks["breaker_probes"].observed == 2 and checks["breaker_probes"].passed
    assert checks["effect_llm_answered_500"].passed


def test_llm_down_without_a_breaker_keeps_calling_and_fails_on_behaviour() -> None:
    scenario = registry()["llm_down"]
    ends = [s.t_s for s in samples(45, start_s=0, end_s=20) if 2.0 <= s.t_s < 11.0]
    # 3 analysis calls for every conversation end, as legacy does
    ctx, m = llm_down_run("legacy", [t for t in ends for _ in range(3)])
    checks = by_name(scenario.expectations(ctx, m))
    stops = checks["breaker_stops_calls"]
    assert stops.observed is not None and stops.observed >= 2.5 and not stops.passed
    assert checks["breaker_probes"].passed  # it calls all the time: honest, not a breaker


def test_llm_down_a_breaker_stuck_open_never_probes() -> None:
    scenario = registry()["llm_down"]
    ctx, m = llm_down_run("refactored", [2.1, 2.2, 2.3])
    assert not by_name(scenario.evaluate(ctx, m))["breaker_probes"].passed
    assert OPEN_SETTLE_S < 2.0


def test_llm_down_judges_breaker_checks_the_same_with_or_without_metrics() -> None:
    scenario = registry()["llm_down"]
    ctx, m = llm_down_run("refactored", [2.1, 8.6])
    assert not m.metrics_after  # no /metrics at all: the outside checks still measure
    checks = by_name(scenario.evaluate(ctx, m))
    assert checks["breaker_stops_calls"].observed is not None
    assert not any(name.startswith("breaker_opened") for name in checks)


# ---- broker_down: nothing delivered while the target is cut off ---------------------------


def test_broker_down_needs_an_outage_in_the_consumers_arrivals() -> None:
    scenario = registry()["broker_down"]
    ctx = context("refactored")
    m = measurements(samples(30, start_s=0, end_s=12), window=(2, 9))
    m.extra["events"] = {"delivered_during_outage": 0}
    assert all(e.passed for e in scenario.fault_effect(ctx, m))
    m.extra["events"] = {"delivered_during_outage": 4}
    failed = [e.name for e in scenario.fault_effect(ctx, m) if not e.passed]
    assert failed == ["effect_no_events_during_outage"]


def test_the_consumer_stamps_each_event_on_the_scenario_clock() -> None:
    clock = iter([1.0, 5.0])
    consumer = _Consumer("amqp://x", "agent-a", clock=lambda: next(clock))

    class Message:
        def __init__(self, body: dict[str, Any]) -> None:
            self.body = json.dumps(body).encode()

    asyncio.run(consumer._on_message(Message({"agent_id": "agent-a", "conversation_id": "c1"})))
    asyncio.run(consumer._on_message(Message({"agent_id": "other", "conversation_id": "c2"})))
    asyncio.run(consumer._on_message(Message({"agent_id": "agent-a", "conversation_id": "c3"})))
    assert consumer.arrivals_s == [1.0, 5.0]


# ---- sampling the fakes during a run -----------------------------------------------------


async def test_sample_fakes_reads_each_fakes_counters_until_stopped() -> None:
    reads: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        reads.append(request.url.host)
        return httpx.Response(200, json={"calls_total": len(reads)})

    ctx = context()
    ctx.http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    ctx.endpoints.fakes = {
        kind: FakeInfo(f"http://{kind}", f"http://{kind}/_control")
        for kind in ("llm", "memory", "webhook")
    }
    series: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    stop = asyncio.Event()
    task = asyncio.create_task(sample_fakes(ctx, series, stop, every_s=0.01))
    await asyncio.sleep(0.08)
    stop.set()
    await asyncio.wait_for(task, 2.0)
    assert set(series) == {"llm", "memory"}  # the webhook's counters say nothing of faults
    assert len(series["llm"]) >= 3
    times = [t for t, _ in series["llm"]]
    assert times == sorted(times)
    assert "webhook" not in reads


def test_conversation_ends_in_the_open_period_are_what_breaker_calls_divide_by() -> None:
    _ctx, m = llm_down_run("refactored", [])
    start, end = m.window()
    ends = [s for s in m.samples if s.endpoint == END and start + OPEN_SETTLE_S <= s.t_s < end]
    assert ends  # the synthetic run sends load in the open period


def test_memory_api_down_tells_a_breaker_from_a_plain_timeout_by_the_fakes_calls() -> None:
    scenario = registry()["memory_api_down"]
    ctx = context("refactored")
    window = (2.0, 10.5)
    load = samples(60, start_s=0, end_s=12, degraded=("memory",))
    steady_from = window[0] + 0.5 * ctx.lb_timeout_s
    steady_ends = [s.t_s for s in load if steady_from <= s.t_s < window[1]]

    def run(calls_at: list[float]) -> Measurements:
        m = measurements(load, window=window)
        m.fake_series = {"memory": llm_series(calls_at)}
        return m

    # a breaker: the first timeouts, then one probe
    breaker = by_name(scenario.evaluate(ctx, run([2.1, 2.5, 3.0, 3.6, 4.1, 9.0])))
    assert breaker["breaker_stops_calls"].passed, breaker["breaker_stops_calls"].describe()
    # a plain timeout: one call (that times out) for every conversation end
    plain = by_name(scenario.evaluate(ctx, run(steady_ends)))
    assert plain["breaker_stops_calls"].observed == 1.0
    assert not plain["breaker_stops_calls"].passed
