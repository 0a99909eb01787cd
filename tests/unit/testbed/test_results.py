"""The run-results format: verdicts, round trip, reports/latest, clear errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.reporting import render_markdown
from testbed.provenance import source_tree_hash
from testbed.results import (
    Expectation,
    ResultsError,
    RunResults,
    ScenarioResult,
    load_results,
    write_results,
)
from testbed.run_dirs import new_run_dir
from testbed.run_facts import environment_facts
from testbed.stats import bucket_series, latency_summary, percentile

pytestmark = pytest.mark.unit


def _result(target: str, *checks: Expectation, expected_to_fail: bool = False) -> ScenarioResult:
    return ScenarioResult(
        target=target,
        scenario="llm_latency",
        kind="chaos",
        started_at="2026-01-01T00:00:00+00:00",
        duration_s=1.0,
        expectations=list(checks),
        expected_to_fail=expected_to_fail,
    )


def test_missing_or_nan_observation_fails_the_check() -> None:
    assert not Expectation.check("p99", "p99 latency", None, "<", 100).passed
    assert not Expectation.check("p99", "p99 latency", math.nan, "<", 100).passed
    assert Expectation.check("p99", "p99 latency", 99.0, "<", 100).passed
    assert not Expectation.check("p99", "p99 latency", 100.0, "<", 100).passed


def test_verdicts_separate_expected_failures_from_broken_faults() -> None:
    fault_happened = Expectation.check("fault", "LLM slowed", 1, ">=", 1, role="sanity")
    no_504 = Expectation.check("no_504", "no LB 504", 12, "<=", 0)
    assert _result("legacy", fault_happened, no_504, expected_to_fail=True).verdict == (
        "expected_fail"
    )
    assert _result("refactored", fault_happened, no_504).verdict == "fail"
    no_fault = Expectation.check("fault", "LLM slowed", 0, ">=", 1, role="sanity")
    ok = Expectation.check("no_504", "no LB 504", 0, "<=", 0)
    assert _result("refactored", no_fault, ok).verdict == "invalid"
    assert _result("legacy", fault_happened, ok, expected_to_fail=True).verdict == (
        "unexpected_pass"
    )
    assert _result("refactored").verdict == "fail", "a scenario without checks proves nothing"


def test_an_unexpected_pass_fails_the_run_and_the_report_says_why(tmp_path: Path) -> None:
    """Legacy passing a scenario it must fail: the scenario lost its teeth (not a pass)."""
    fault = Expectation.check("fault", "LLM slowed", 1, ">=", 1, role="sanity")
    ok = Expectation.check("no_504", "no LB 504", 0, "<=", 0)
    bad = Expectation.check("no_504", "no LB 504", 7, "<=", 0)
    refactored = _result("refactored", fault, ok)
    teeth = RunResults(run_id="r", kind="chaos", created_at="x", time_scale=0.1)
    teeth.results = [_result("legacy", fault, bad, expected_to_fail=True), refactored]
    assert teeth.passed and teeth.lost_differences() == []
    lost = RunResults(run_id="r", kind="chaos", created_at="x", time_scale=0.1)
    lost.results = [_result("legacy", fault, ok, expected_to_fail=True), refactored]
    assert not lost.passed
    assert [r.target for r in lost.lost_differences()] == ["legacy"]
    assert not RunResults.from_dict(lost.to_dict()).passed
    assert lost.to_dict()["passed"] is False
    text = render_markdown(lost)
    assert "**Result: FAILED**" in text
    assert "lost difference: legacy passed every expectation of llm_latency" in text
    # an ablation variant that changes nothing is a finding of the matrix, not a failure
    ablation = RunResults(run_id="a", kind="ablation", created_at="x", time_scale=0.1)
    ablation.results = lost.results
    assert ablation.passed


def test_run_round_trips_and_latest_points_at_it(tmp_path: Path) -> None:
    run_dir = new_run_dir("chaos", base=tmp_path)
    run = RunResults(run_id=run_dir.name, kind="chaos", created_at="x", time_scale=0.1)
    run.results.append(_result("refactored", Expectation.check("no_504", "d", 0, "<=", 0)))
    write_results(run, run_dir)
    loaded = load_results(tmp_path / "latest")
    assert loaded.passed
    assert loaded.find("refactored", "llm_latency") is not None
    assert loaded.results[0].expectations[0].name == "no_504"
    assert json.loads((run_dir / "results.json").read_text())["results"][0]["verdict"] == "pass"
    assert new_run_dir("chaos", base=tmp_path) != run_dir


def test_unreadable_results_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="make chaos"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ResultsError, match="cannot read"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ResultsError, match="schema_version"):
        load_results(tmp_path)


def test_percentiles_and_series() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert latency_summary([]) == {"count": 0}
    series = bucket_series([(0.1, 200, 5.0), (0.5, 504, 6000.0), (2.2, None, 1.0), (2.2, 200, 3.0)])
    assert series["requests"] == [2, 0, 2]
    assert series["status"]["504"] == [1, 0, 0]
    assert series["status"]["error"] == [0, 0, 1]
    assert series["p99_ms"][1] is None


def test_environment_records_the_tree_under_test() -> None:
    facts = environment_facts(workers=2)
    assert facts["workers"] == 2
    assert len(facts["git_commit"]) == 40
    assert isinstance(facts["git_dirty"], bool)
    assert facts["source_tree"] == source_tree_hash(Path.cwd()), "the gate compares it"


def test_a_share_over_too_few_samples_fails_and_round_trips(tmp_path: Path) -> None:
    vacuous = Expectation.check("ok_share", "2xx share", 1.0, ">=", 0.95, samples=0, min_samples=5)
    assert not vacuous.passed and vacuous.undersampled
    judged = Expectation.check("ok_share", "2xx share", 1.0, ">=", 0.95, samples=5, min_samples=5)
    assert judged.passed and not judged.undersampled
    plain = Expectation.check("p99", "p99", 10.0, "<", 100)
    assert plain.passed and plain.samples is None, "counts and latencies have no minimum"
    run_dir = new_run_dir("chaos", base=tmp_path)
    run = RunResults(run_id=run_dir.name, kind="chaos", created_at="x", time_scale=0.1)
    run.results.append(_result("refactored", vacuous))
    write_results(run, run_dir)
    loaded = load_results(run_dir).results[0].expectations[0]
    assert loaded.samples == 0 and loaded.min_samples == 5 and not loaded.passed
