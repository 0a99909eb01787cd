"""From what a load run left behind (samples, fault driver, observations) to its verdict.

:func:`collect_run` gathers a :class:`RawRun`; :func:`to_scenario_result` judges it against
the scenario's thresholds as a :class:`testbed.results.ScenarioResult` (what
``results.json`` holds). ``make load`` and the Locust plugin's verdict tab both call these,
so a verdict has the same names and numbers however the run was started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from loadtests.faults import FaultDriver
from loadtests.metrics import compute_metrics, endpoint_stats, read_samples, series, status_counts
from loadtests.model import ScaledStage, Scenario
from loadtests.observe import MetricsWatcher, alerts, count_worker_timeouts, llm_stats
from testbed.results import ScenarioResult
from testbed.stats import latency_summary
from testbed.target import TargetInfo

ANALYSIS_TASKS = ("emotion", "questions", "topics")


class NoSamplesError(RuntimeError):
    """The load generator recorded no request: nothing to judge."""


@dataclass
class RawRun:
    """What one Locust run against one target produced, before it becomes a ScenarioResult."""

    target: str
    scenario: Scenario
    out_dir: Path
    started_at: float
    duration_s: float
    metrics: dict[str, float | None]
    samples_count: int
    windows: list[dict[str, Any]]
    notes: list[str]
    llm_stats: dict[str, Any]
    metrics_scrape: dict[str, Any]
    alerts: dict[str, Any]
    series: dict[str, Any]
    status_counts: dict[str, int]
    endpoints: dict[str, Any]
    latency_ms: dict[str, float]
    health_latency_ms: dict[str, float]
    requests_total: int
    transport_errors: int
    load_generator_cpu_percent: float | None = None


def collect_run(
    target: TargetInfo | None,
    log_dir: Path | None,
    scenario: Scenario,
    out_dir: Path,
    started_at: float,
    total_s: float,
    stages: list[ScaledStage],
    driver: FaultDriver,
    watcher: MetricsWatcher,
    timeouts_before: int,
    cpu_percent: float | None = None,
) -> RawRun:
    """``target`` None: a Locust run without a stack (no faults, no fakes to ask);
    ``log_dir``: where the target's gunicorn logs are (its worker timeouts)."""
    name = target.name if target is not None else "unknown"
    samples = read_samples(out_dir, started_at)
    if not samples:
        raise NoSamplesError(f"Locust recorded no request against {name} (see {out_dir})")
    notes = list(driver.notes)
    stats: dict[str, Any] = {}
    try:
        stats = llm_stats(target)
    except httpx.HTTPError as exc:
        notes.append(f"LLM fake stats unavailable: {exc}")
    by_task = stats.get("calls_by_task", {}) or {}
    by_status = stats.get("responses_by_status", {}) or {}
    extras: dict[str, float | None] = {
        "faults_applied": driver.applied - driver.rejected,
        # a job that did not answer 2xx (503 on an exhausted pool, killed worker, still
        # running after the load) did not survive; None: no nightly job in this scenario
        "nightly_jobs_failed": driver.nightly_started - driver.nightly_completed - driver.rejected
        if driver.nightly_started
        else None,
        "worker_timeouts": count_worker_timeouts(log_dir, name) - timeouts_before,
        "event_loop_lag_max_s": watcher.lag_max,
        "llm_calls_total": stats.get("calls_total"),
        "llm_analysis_calls": sum(by_task.get(t, 0) for t in ANALYSIS_TASKS) if by_task else None,
        "llm_429_responses": by_status.get("429", 0) if stats else None,
        "llm_503_responses": by_status.get("503", 0) if stats else None,
    }
    # The incident must be over in the second half of the last stage (recovery).
    last = stages[-1]
    recovery_from = last.start_s + (last.end_s - last.start_s) / 2 if len(stages) > 1 else None
    metrics = compute_metrics(samples, extras, recovery_from_s=recovery_from)
    normal = [s for s in samples if s.group == "normal"]
    health = [s.latency_ms for s in samples if s.endpoint == "GET /health"]
    return RawRun(
        target=name,
        scenario=scenario,
        out_dir=out_dir,
        started_at=started_at,
        duration_s=round(max(total_s, samples[-1].t_s), 3),
        metrics=metrics,
        samples_count=len(samples),
        windows=driver.windows,
        notes=notes,
        llm_stats=stats,
        metrics_scrape=watcher.last,
        alerts=alerts(target),
        series=series(samples),
        status_counts=status_counts(samples),
        endpoints=endpoint_stats(samples),
        latency_ms=latency_summary(s.latency_ms for s in normal),
        health_latency_ms=latency_summary(health),
        requests_total=len(samples),
        transport_errors=sum(1 for s in samples if s.status is None),
        load_generator_cpu_percent=cpu_percent,
    )


def to_scenario_result(
    raw: RawRun,
    time_scale: float,
    *,
    kind: str = "load",
    variant: str = "",
    duration_factor: float = 1.0,
    expected_to_fail: bool | None = None,
) -> ScenarioResult:
    scenario = raw.scenario
    expectations = [
        t.evaluate(raw.metrics, time_scale, duration_factor) for t in scenario.thresholds
    ]
    if expected_to_fail is None:
        expected_to_fail = scenario.expected_to_fail(raw.target)
    conversations = raw.metrics.get("conversation_end_count") or 0
    llm_total = raw.llm_stats.get("calls_total")
    notes = list(raw.notes)
    first, last = raw.metrics.get("first_lb_504_s"), raw.metrics.get("last_lb_504_s")
    if first is not None:
        notes.append(f"LB 504s from {first:.1f}s to {last:.1f}s after the start")
    if raw.metrics.get("worker_timeouts"):
        notes.append(f"gunicorn killed {raw.metrics['worker_timeouts']:g} blocked worker(s)")
    return ScenarioResult(
        target=raw.target,
        scenario=scenario.name,
        kind=kind,
        started_at=datetime.fromtimestamp(raw.started_at, UTC).isoformat(),
        duration_s=raw.duration_s,
        expectations=expectations,
        expected_to_fail=expected_to_fail,
        description=scenario.description,
        variant=variant,
        requests_total=raw.requests_total,
        transport_errors=raw.transport_errors,
        status_counts=raw.status_counts,
        latency_ms=raw.latency_ms,
        endpoints=raw.endpoints,
        health_latency_ms=raw.health_latency_ms,
        llm_calls={
            "total": llm_total,
            "by_task": raw.llm_stats.get("calls_by_task", {}),
            "per_request": raw.metrics.get("llm_calls_per_conversation"),
            "responses_by_status": raw.llm_stats.get("responses_by_status", {}),
        }
        if raw.llm_stats
        else {},
        breaker_transitions=raw.metrics_scrape.get("breaker_transitions", []),
        alerts=raw.alerts,
        event_loop_lag_max_s=raw.metrics.get("event_loop_lag_max_s"),
        fault_windows=raw.windows,
        series=raw.series,
        notes=notes,
        extra={
            "lb_504_count": raw.metrics.get("lb_504_count"),
            "worker_timeouts": raw.metrics.get("worker_timeouts"),
            "metrics": raw.metrics,
            "locust_csv": str(raw.out_dir / "locust_stats.csv"),
            "locust_html": str(raw.out_dir / "locust.html"),
            "conversations": conversations,
        },
    )
