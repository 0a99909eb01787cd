"""The chaos engine: one scenario on one target, faults and load on one clock.

Apply and revert the scenario's fault steps on the scenario clock while the load runs,
then measure (status counts, latency, health probes, LLM calls, breaker transitions,
alerts, data integrity, event-loop lag) into a :class:`testbed.results.ScenarioResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chaos import measure
from chaos.load_plan import Sample, in_window
from chaos.loadgen import LoadGenerator
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.measurements import Measurements
from testbed.results import Expectation, ScenarioResult, now_iso
from testbed.stats import bucket_series, latency_summary

if TYPE_CHECKING:
    from chaos.scenarios.scenario import Scenario


async def run_scenario(scenario: Scenario, ctx: ScenarioContext) -> ScenarioResult:
    """Prepare, run load and faults on one clock, measure, evaluate."""

    started_at = now_iso()
    await scenario.prepare(ctx)
    metrics_before = await measure.scrape_metrics(ctx)
    steps = scenario.faults(ctx)
    duration = scenario.duration_s(ctx)
    ctx.t0 = time.monotonic()
    gen = LoadGenerator(
        ctx.endpoints.lb_url,
        scenario.plan(ctx),
        prefix=ctx.prefix,
        request_timeout_s=scenario.request_timeout_s(ctx),
        clock=ctx.now,
    )
    confirmed = True
    windows: list[dict[str, Any]] = []

    async def schedule() -> None:
        nonlocal confirmed
        events: list[tuple[float, int, FaultStep]] = []
        for step in steps:
            events += [(step.start_s, 1, step), (step.end_s, 0, step)]
        for at, is_apply, step in sorted(events, key=lambda e: (e[0], e[1])):
            await asyncio.sleep(max(0.0, at - ctx.now()))
            if is_apply:
                ok = await step.apply(ctx)
                confirmed = confirmed and ok
                windows.append({"label": step.label, "start_s": round(ctx.now(), 3)})
            else:
                await step.revert(ctx)
                for w in windows:
                    if w["label"] == step.label and "end_s" not in w:
                        w["end_s"] = round(ctx.now(), 3)

    # the LB answers every request within its timeout: no need to wait longer than that
    load_task = asyncio.create_task(gen.run(duration, drain_s=ctx.lb_timeout_s + 1.0))
    side_task = asyncio.create_task(scenario.during_load(ctx, gen))
    fake_series: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    sampling = asyncio.Event()
    sampler = asyncio.create_task(measure.sample_fakes(ctx, fake_series, sampling))
    try:
        await schedule()
        await load_task
        await side_task
    finally:
        for task in (load_task, side_task):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        sampling.set()  # one last reading of the fakes' counters, then it stops
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sampler, 10.0)
        # a fault never outlives its scenario, whatever happened
        for step in steps:
            with contextlib.suppress(Exception):
                await step.revert(ctx)
    for w in windows:
        w.setdefault("end_s", round(ctx.now(), 3))
    m = Measurements(samples=gen.samples, health=gen.health, windows=windows)
    m.faults_confirmed = confirmed
    m.metrics_before = metrics_before
    m.fake_series = fake_series
    await scenario.finish(ctx, m)
    await measure.collect(ctx, m, agent_id=gen.agent_id())
    expectations = scenario.expectations(ctx, m)
    return build_result(scenario, ctx, m, expectations, started_at)


def build_result(
    scenario: Scenario,
    ctx: ScenarioContext,
    m: Measurements,
    expectations: list[Expectation],
    started_at: str,
) -> ScenarioResult:
    samples = m.samples
    status_counts: Counter[str] = Counter(str(s.status) for s in samples if s.status is not None)
    endpoints: dict[str, dict[str, Any]] = {}
    for endpoint in sorted({s.endpoint for s in samples}):
        group = [s for s in samples if s.endpoint == endpoint]
        endpoints[endpoint] = {
            "count": len(group),
            "status_counts": dict(Counter(str(s.status) for s in group if s.status is not None)),
            "transport_errors": sum(1 for s in group if s.status is None),
            "latency_ms": _rounded(latency_summary(s.latency_ms for s in group)),
        }
    health_fault: list[Sample] = []
    for w in m.windows:
        health_fault += in_window(m.health, w["start_s"], w["end_s"])
    lag = m.gauge_max("event_loop_lag_max_seconds")
    result = ScenarioResult(
        target=ctx.target,
        scenario=scenario.name,
        kind="chaos",
        started_at=started_at,
        duration_s=round(ctx.now(), 2),
        expectations=expectations,
        expected_to_fail=scenario.expected_to_fail(ctx.target),
        description=scenario.description,
        requests_total=len(samples),
        transport_errors=sum(1 for s in samples if s.status is None),
        status_counts=dict(sorted(status_counts.items())),
        latency_ms=_rounded(latency_summary(s.latency_ms for s in samples)),
        endpoints=endpoints,
        health_latency_ms=_rounded(latency_summary(s.latency_ms for s in health_fault)),
        llm_calls=m.llm_calls(),
        breaker_transitions=m.breaker_transitions(),
        alerts=m.alerts(),
        integrity=m.integrity,
        event_loop_lag_max_s=None if lag is None else round(lag, 4),
        fault_windows=m.windows,
        series=bucket_series((s.t_s, s.status, s.latency_ms) for s in samples),
        notes=list(ctx.notes),
        extra={
            "health_all_ms": _rounded(latency_summary(s.latency_ms for s in m.health)),
            "health_series": bucket_series((s.t_s, s.status, s.latency_ms) for s in m.health),
            "facts": ctx.facts,
            **m.extra,
        },
    )
    return result


def _rounded(summary: Mapping[str, float]) -> dict[str, float]:
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in summary.items()}
