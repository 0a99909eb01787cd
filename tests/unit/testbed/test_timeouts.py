"""The production timeout ladder (docs/conventions.md §11): one source, at least a second
between rungs at any scale."""

from __future__ import annotations

import pytest

from chaos.scenarios.context import ScenarioContext
from loadtests import model
from testbed import services, stack_config, timeouts
from testbed.timeouts import MIN_GAP_S, gap_problem, ladder

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("scale", [0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 10.0])
def test_the_lb_outlasts_the_app_deadline_by_a_second_at_any_scale(scale: float) -> None:
    rungs = ladder(scale)
    assert rungs.lb_s - rungs.app_s >= MIN_GAP_S - 1e-9
    assert rungs.lb_s >= 60.0 * scale, "never shorter than the production LB, scaled"
    assert rungs.gunicorn_s >= rungs.app_s, "gunicorn never kills a worker before the deadline"


def test_time_scale_0_1_gives_the_lb_6_5_s_not_6_s() -> None:
    """The issue's margin: 6.0 s LB vs 5.5 s deadline left 500 ms to cross Caddy."""
    assert stack_config.timeouts(0.1) == (6.5, 5.5, 6)
    assert stack_config.timeouts(1.0) == (60.0, 55.0, 55), "production: docs/conventions.md §11"


def test_every_copy_reads_the_one_module() -> None:
    assert timeouts.LB_TIMEOUT_S == model.LB_TIMEOUT_S
    assert timeouts.APP_DEADLINE_S == model.APP_DEADLINE_S
    assert model.LLM_TIMEOUT_S == timeouts.LLM_TIMEOUT_S
    assert services.gunicorn_timeout is timeouts.gunicorn_timeout
    ctx = ScenarioContext.__new__(ScenarioContext)
    ctx.time_scale = 0.1
    assert ctx.llm_timeout_s == timeouts.LLM_TIMEOUT_S * 0.1
    assert ctx.db_statement_timeout_s == timeouts.DB_STATEMENT_TIMEOUT_S * 0.1
    assert ctx.breaker_recovery_s == timeouts.BREAKER_RECOVERY_S * 0.1


def test_gap_problem_names_both_rungs_and_the_margin() -> None:
    assert gap_problem(6.5, 5.5, "LB", "app") is None
    assert gap_problem(6.0, 5.5, "LB", "app") == (
        "LB 6s is not at least 1s longer than the app 5.5s (margin 0.5s)"
    )
