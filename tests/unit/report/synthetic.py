"""Synthetic runs shaped like the chaos and load runners' results, for gate and compare tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from testbed.results import Expectation, RunResults, ScenarioResult, write_results
from testbed.stats import bucket_series

NOW = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
TREE = "git-tree:" + "a" * 40  # the source tree the gate tests judge (testbed.provenance)


def scenario(
    target: str,
    name: str,
    *,
    kind: str = "chaos",
    resilience_ok: bool = True,
    sane: bool = True,
    slow: bool = False,
) -> ScenarioResult:
    """A scenario whose resilience expectation passes or fails (legacy: fails and 504s)."""
    p99 = 120.0 if resilience_ok else 6000.0
    samples = []
    for i in range(200):
        t = i * 0.05
        in_fault = 3.0 <= t < 7.0
        status = 504 if (slow and in_fault and i % 3 == 0) else 200
        latency = (5000.0 if slow and in_fault else 40.0) + (i % 7)
        samples.append((t, status, latency))
    status_counts: dict[str, int] = {}
    for _, code, _ in samples:
        status_counts[str(code)] = status_counts.get(str(code), 0) + 1
    return ScenarioResult(
        target=target,
        scenario=name,
        kind=kind,
        started_at=NOW.isoformat(),
        duration_s=10.0,
        expected_to_fail=target == "legacy",
        expectations=[
            Expectation.check(
                "fault_applied", "the fault happened", 1 if sane else 0, "==", 1, role="sanity"
            ),
            Expectation.check(
                "p99_latency_ms", "p99 under the LB timeout", p99, "<", 5000, unit="ms"
            ),
            Expectation.check("no_504", "no 504s", status_counts.get("504", 0), "==", 0),
        ],
        requests_total=len(samples),
        status_counts=status_counts,
        latency_ms={
            "count": 200,
            "p50": 40.0,
            "p95": p99 * 0.8,
            "p99": p99,
            "max": p99 * 1.1,
            "mean": 60.0,
        },
        health_latency_ms={"p50": 2.0, "p99": 900.0 if slow else 5.0},
        llm_calls={"total": 600 if slow else 300, "per_request": 3.0 if slow else 1.5},
        event_loop_lag_max_s=2.5 if slow else 0.01,
        fault_windows=[{"label": "LLM +5 s", "start_s": 3.0, "end_s": 7.0}],
        series=bucket_series(samples),
    )


def run(
    kind: str,
    results: list[ScenarioResult],
    *,
    created: datetime = NOW,
    commit: str | None = "abc123",
    tree: str | None = TREE,
    run_id: str | None = None,
) -> RunResults:
    environment: dict[str, object] = {"workers": 2}
    if commit:
        environment["git_commit"] = commit
    if tree:
        environment["source_tree"] = tree
    return RunResults(
        run_id=run_id or f"{created:%Y%m%d-%H%M%S}-{kind}",
        kind=kind,
        created_at=created.isoformat(),
        finished_at=(created + timedelta(minutes=1)).isoformat(),
        time_scale=0.1,
        environment=environment,
        results=results,
    )


def write(reports: Path, run_: RunResults) -> Path:
    run_dir = reports / run_.run_id
    run_dir.mkdir(parents=True)
    write_results(run_, run_dir)
    return run_dir


def both(name: str, kind: str = "chaos") -> list[ScenarioResult]:
    """Legacy fails as the incident did; refactored passes."""
    return [
        scenario("legacy", name, kind=kind, resilience_ok=False, slow=True),
        scenario("refactored", name, kind=kind),
    ]
