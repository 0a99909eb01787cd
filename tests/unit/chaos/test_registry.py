from __future__ import annotations

import pytest

from chaos.scenarios import SCENARIO_MODULES, UnknownScenarioError, registry, select

from .helpers import context

pytestmark = pytest.mark.unit

REQUIRED = {
    "llm_latency",
    "llm_429_storm",
    "llm_down",
    "memory_api_down",
    "db_latency",
    "db_pool_exhaustion",
    "db_down",
    "broker_down",
    "timeout_ordering",
    "rate_limit_burst",
    "rate_limit_spoofed",
    "idempotency_per_owner",
}


def test_registry_holds_every_failure_mode_once_in_run_order() -> None:
    scenarios = registry()
    assert set(scenarios) >= REQUIRED
    assert list(scenarios) == list(SCENARIO_MODULES)
    for name, scenario in scenarios.items():
        assert scenario.name == name
        assert len(scenario.description) > 30


def test_select_all_and_subsets_keep_run_order() -> None:
    assert [s.name for s in select("all")] == list(SCENARIO_MODULES)
    assert [s.name for s in select("db_down, llm_latency")] == ["llm_latency", "db_down"]


@pytest.mark.parametrize("spec", ["nope", "llm_latency,nope", " , "])
def test_unknown_scenario_names_list_the_valid_ones(spec: str) -> None:
    with pytest.raises(UnknownScenarioError) as info:
        select(spec)
    assert "llm_latency" in str(info.value)
    assert "Valid: all" in str(info.value)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_each_scenario_fits_the_ci_budget_and_its_faults_fit_its_duration(name: str) -> None:
    ctx = context(time_scale=0.1)
    scenario = registry()[name]
    duration = scenario.duration_s(ctx)
    assert 5.0 <= duration <= 25.0, "load phase must stay ~10-25 s at TIME_SCALE=0.1"
    for step in scenario.faults(ctx):
        assert 0 < step.start_s < step.end_s <= duration
    assert scenario.plan(ctx).clients, "every scenario runs background clients"


@pytest.mark.parametrize("name", ["llm_latency", "timeout_ordering", "memory_api_down"])
def test_hang_like_faults_outlast_the_load_balancer_timeout(name: str) -> None:
    """Legacy's 504s can only show if the fault lasts longer than the LB waits."""
    ctx = context(time_scale=0.1)
    step = registry()[name].faults(ctx)[0]
    assert step.end_s - step.start_s > ctx.lb_timeout_s


def test_llm_down_fault_lasts_past_the_breaker_recovery_and_the_run_sees_it_close() -> None:
    ctx = context(time_scale=0.1)
    scenario = registry()["llm_down"]
    step = scenario.faults(ctx)[0]
    assert step.end_s - step.start_s > ctx.breaker_recovery_s
    assert scenario.duration_s(ctx) - step.end_s > ctx.breaker_recovery_s


def test_durations_scale_with_the_time_scale() -> None:
    fast, slow = context(time_scale=0.1), context(time_scale=1.0)
    slow.endpoints.lb_timeout_s, slow.endpoints.app_timeout_s = 60.0, 55.0
    scenario = registry()["llm_latency"]
    assert scenario.duration_s(slow) > 5 * scenario.duration_s(fast)
