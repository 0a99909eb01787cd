"""The ablation's fix x failure table and the benchmark's arithmetic."""

from __future__ import annotations

import pytest

from harness.ablation import (
    UnknownPolicyError,
    ablation_markdown,
    ablation_table,
    parse_policies,
    regressions,
)
from harness.bench import bench_stages, ideal_rps, limit_hit, sustainable
from testbed.results import Expectation, RunResults, ScenarioResult

pytestmark = pytest.mark.unit


def _result(scenario: str, variant: str, broken: set[str]) -> ScenarioResult:
    names = ("load_generated", "no_lb_504", "conversation_end_p99_under_deadline")
    expectations = [
        Expectation.check(
            n,
            n,
            1.0 if n in broken else 0.0,
            "==",
            0,
            role="sanity" if n == "load_generated" else "resilience",
        )
        for n in names
    ]
    return ScenarioResult(
        target="refactored",
        scenario=scenario,
        kind="ablation",
        started_at="2026-11-22T21:00:00+00:00",
        duration_s=10.0,
        expectations=expectations,
        expected_to_fail=variant != "",
        variant=variant,
        extra={"metrics": {"lb_504_count": 3 if broken else 0}},
    )


def _run() -> RunResults:
    results = [
        _result("three_am", "", set()),
        _result("llm_429_storm", "", set()),
        _result("three_am", "timeouts", {"no_lb_504", "conversation_end_p99_under_deadline"}),
        _result("llm_429_storm", "timeouts", set()),
        _result("three_am", "outbox", set()),
        _result("llm_429_storm", "outbox", set()),
    ]
    return RunResults("r1", "ablation", "2026-11-22T21:00:00+00:00", 0.1, results=results)


def test_regressions_are_thresholds_the_baseline_met() -> None:
    run = _run()
    base = run.find("refactored", "three_am", "")
    variant = run.find("refactored", "three_am", "timeouts")
    assert regressions(base, variant) == ["no_lb_504", "conversation_end_p99_under_deadline"]


def test_table_names_the_failure_that_returns_and_reports_useless_fixes() -> None:
    header, rows, findings = ablation_table(_run())
    assert header == ["disabled policy", "three_am", "llm_429_storm"]
    by_policy = {row[0]: row[1:] for row in rows}
    assert by_policy["timeouts"][0].startswith("**no_lb_504")
    assert by_policy["timeouts"][1].startswith("no change")
    assert by_policy["(none: all enabled)"][0].startswith("ok")
    assert len(findings) == 1 and "`outbox`" in findings[0]
    assert "## Findings" in ablation_markdown(_run())


def test_variants_that_change_nothing_are_unexpected_passes() -> None:
    run = _run()
    assert run.find("refactored", "three_am", "outbox").verdict == "unexpected_pass"
    assert run.find("refactored", "three_am", "timeouts").verdict == "expected_fail"
    assert run.passed  # only a failing baseline fails the ablation run


def test_unknown_policy_is_a_clear_error() -> None:
    assert parse_policies("retry,breaker") == ["retry", "breaker"]
    with pytest.raises(UnknownPolicyError, match="valid policies: timeouts"):
        parse_policies("retries")


def test_ideal_is_littles_law_capped_by_the_connection_limit() -> None:
    assert ideal_rps(64, 200, None) == pytest.approx(320.0)
    assert ideal_rps(64, 200, 16) == pytest.approx(80.0)


def test_bench_stages_step_the_concurrency_up() -> None:
    stages = bench_stages([8, 16, 32], 10.0)
    assert [(s.users, s.start_s, s.end_s) for s in stages] == [
        (8, 0.0, 10.0),
        (16, 10.0, 20.0),
        (32, 20.0, 30.0),
    ]
    assert all(s.classes == ("BenchSuggester",) for s in stages)


def _step(c: int, rps: float, errors: float, **cpu: float) -> dict:
    return {"concurrency": c, "rps": rps, "error_rate": errors, **cpu}


def test_sustainable_is_the_best_step_without_errors() -> None:
    steps = [_step(8, 39.0, 0.0), _step(16, 78.0, 0.0), _step(32, 90.0, 0.2)]
    assert sustainable(steps)["concurrency"] == 16
    assert sustainable([_step(8, 1.0, 0.5)]) is None


def test_limit_hit_names_the_bottleneck() -> None:
    kwargs = {
        "workers": 2,
        "processes": 1,
        "latency_ms": 200.0,
        "connection_limit": 512,
        "cpus": 2,
    }
    assert "Little's law" in limit_hit(_step(16, 78.0, 0.0), **kwargs)
    saturated = _step(128, 174.0, 0.24, machine_cpu_percent=98.6, service_cpu_percent=110.0)
    assert limit_hit(_step(64, 175.0, 0.0), next_step=saturated, **kwargs).startswith("machine CPU")
    busy_generator = _step(128, 100.0, 0.0, load_generator_cpu_percent=99.0)
    assert limit_hit(_step(64, 100.0, 0.0), next_step=busy_generator, **kwargs) == (
        "load generator CPU"
    )
    busy_service = _step(128, 100.0, 0.0, service_cpu_percent=190.0)
    assert limit_hit(_step(64, 100.0, 0.0), next_step=busy_service, **kwargs) == "service CPU"
    assert "blocking" in limit_hit(_step(4, 9.2, 0.0, service_cpu_percent=5.0), **kwargs)
    assert "no sustainable" in limit_hit(None, **kwargs)


def test_best_goodput_is_the_fallback_when_no_step_is_error_free() -> None:
    from harness.bench import best_goodput

    steps = [
        {"concurrency": 4, "rps": 5.6, "error_rate": 0.13, "requests": 45},
        {"concurrency": 8, "rps": 3.1, "error_rate": 0.7, "requests": 80},
        {"concurrency": 16, "rps": 0.0, "error_rate": None, "requests": 0},
    ]
    assert sustainable(steps) is None
    assert best_goodput(steps)["concurrency"] == 4


def _measured(c: int, rps: float, errors: float = 0.0) -> dict:
    return {"concurrency": c, "rps": rps, "error_rate": errors, "requests": max(1, int(rps * 5))}


def test_throughput_scaling_separates_a_blocked_loop_from_an_async_worker() -> None:
    from harness.bench import MIN_SCALING, throughput_scaling

    # Figures of run 20261201-214604-bench: legacy flat, refactored x12.9.
    legacy = [_measured(4, 9.8), _measured(8, 9.6), _measured(32, 7.6, 0.48), _measured(128, 3.0)]
    refactored = [_measured(4, 18.0), _measured(64, 232.2), _measured(128, 292.0, 0.05)]
    assert throughput_scaling(legacy) == pytest.approx(1.0)
    assert throughput_scaling(legacy) < MIN_SCALING
    assert throughput_scaling(refactored) == pytest.approx(12.9, abs=0.01)
    assert throughput_scaling(refactored) >= MIN_SCALING


def test_throughput_scaling_is_unknown_on_too_narrow_a_sweep() -> None:
    from harness.bench import throughput_scaling

    assert throughput_scaling([_measured(16, 70.0), _measured(64, 230.0)]) is None
    assert throughput_scaling([]) is None


def test_ablation_scenarios_mix_load_shapes_and_chaos_scenarios() -> None:
    from harness.ablation import DEFAULT_SCENARIOS, split_scenarios

    load, chaos = split_scenarios(DEFAULT_SCENARIOS)
    assert [s.name for s in load] == ["llm_flaky", "three_am", "llm_429_storm", "rate_limit_burst"]
    assert [s.name for s in chaos] == ["db_pool_exhaustion", "broker_down"]
    with pytest.raises(ValueError, match="valid: chaos:llm_latency"):
        split_scenarios(["chaos:nope"])
    with pytest.raises(ValueError, match="nope"):
        split_scenarios(["nope"])
