"""Shapes as data: stages, scaling, fault schedules and k6-style thresholds."""

from __future__ import annotations

import itertools

import pytest

from loadtests.model import (
    APP_DEADLINE_S,
    LB_TIMEOUT_S,
    NightlyRun,
    ScheduledFault,
    Threshold,
    scaled_stages,
    stage_at,
)
from loadtests.scenarios import SCENARIOS, THREE_AM, UnknownScenarioError, get_scenario
from testbed.faults import FakeFaults, ProxyDown, Toxic

pytestmark = pytest.mark.unit


def test_three_am_stages_scale_to_90_seconds_at_ci_scale() -> None:
    stages = scaled_stages(THREE_AM, time_scale=0.1)
    assert [s.name for s in stages] == ["baseline", "03:00 incident", "recovery"]
    assert stages[0].start_s == 0
    assert stages[-1].end_s == pytest.approx(90.0)
    # contiguous: each stage starts where the previous ended
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in itertools.pairwise(stages))


def test_stage_at_follows_the_stages_and_ends_the_test() -> None:
    stages = scaled_stages(THREE_AM, time_scale=0.1)
    assert stage_at(stages, 0.0).name == "baseline"
    assert stage_at(stages, 25.0).name == "03:00 incident"
    assert stage_at(stages, 89.9).name == "recovery"
    assert stage_at(stages, 90.0) is None  # the shape returns None: Locust stops


def test_duration_factor_shortens_every_stage() -> None:
    full = scaled_stages(THREE_AM, 0.1)
    short = scaled_stages(THREE_AM, 0.1, factor=0.25)
    assert short[-1].end_s == pytest.approx(full[-1].end_s * 0.25)


def test_three_am_llm_latency_exceeds_the_lb_timeout_at_every_scale() -> None:
    toxic = next(f for f in THREE_AM.faults if isinstance(f.fault, Toxic))
    for scale in (1.0, 0.1, 0.05):
        scaled = toxic.at_scale(scale)
        assert isinstance(scaled, Toxic)
        assert scaled.attributes["latency"] > LB_TIMEOUT_S * 1000 * scale
    nightly = next(f for f in THREE_AM.faults if isinstance(f.fault, NightlyRun))
    assert nightly.start_s == toxic.start_s == THREE_AM.stage_marks()[1][0]  # the 03:00 mark


def test_unscaled_fault_keeps_its_absolute_latency() -> None:
    fixed = ScheduledFault("fixed", FakeFaults("llm", {"latency_ms": 200}), 0, scale=False)
    assert fixed.at_scale(0.1) == FakeFaults("llm", {"latency_ms": 200})
    scaled = ScheduledFault("scaled", FakeFaults("llm", {"latency_ms": 2000}), 0)
    assert scaled.at_scale(0.1) == FakeFaults("llm", {"latency_ms": 200})


def test_retry_after_is_what_the_llm_says_and_is_never_scaled() -> None:
    storm = FakeFaults("llm", {"error": {"status": 429, "retry_after_s": 1.0}, "latency_ms": 30})
    assert ScheduledFault("storm", storm, 0).at_scale(0.1) == FakeFaults(
        "llm", {"error": {"status": 429, "retry_after_s": 1.0}, "latency_ms": 3}
    )
    down = ProxyDown("llm")
    assert ScheduledFault("down", down, 0).at_scale(0.1) is down


def test_every_fault_lies_inside_its_scenario() -> None:
    for scenario in SCENARIOS.values():
        for fault in scenario.faults:
            assert 0 <= fault.start_s < scenario.duration_s, (scenario.name, fault.label)
            if fault.end_s is not None:
                assert fault.start_s < fault.end_s <= scenario.duration_s


def test_every_scenario_proves_its_load_and_has_resilience_thresholds() -> None:
    for scenario in SCENARIOS.values():
        roles = {t.role for t in scenario.thresholds}
        assert roles == {"sanity", "resilience"}, scenario.name
        assert len({t.name for t in scenario.thresholds}) == len(scenario.thresholds)


def test_unknown_scenario_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownScenarioError, match="three_am, llm_429_storm"):
        get_scenario("four_am")


def test_scaled_threshold_compares_against_the_scaled_deadline() -> None:
    threshold = Threshold("p99", "p99_ms", "<", APP_DEADLINE_S * 1000, "p99", scaled=True)
    assert threshold.evaluate({"p99_ms": 5000.0}, time_scale=0.1).passed
    broken = threshold.evaluate({"p99_ms": 6000.0}, time_scale=0.1)
    assert not broken.passed
    assert broken.threshold == pytest.approx(5500.0)
    assert "p99: observed 6000" in broken.describe()


def test_missing_metric_fails_the_threshold() -> None:
    threshold = Threshold("lag", "event_loop_lag_max_s", "<", 0.5, "lag")
    assert not threshold.evaluate({}, 1.0).passed


def test_per_duration_threshold_shrinks_with_the_duration_factor() -> None:
    threshold = Threshold("n", "requests_total", ">=", 100, "n", role="sanity", per_duration=True)
    assert threshold.evaluate({"requests_total": 40}, 0.1, duration_factor=0.3).passed
    assert not threshold.evaluate({"requests_total": 40}, 0.1).passed
