"""Config checks on given settings values (no child process, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.checklist import Checklist, ConfigEvidence
from harness.evidence.base import GateContext, Outcome
from harness.evidence.config import CONFIG_CHECKS

pytestmark = pytest.mark.unit

REFACTORED_LIKE = {
    "time_scale": 0.1, "app_deadline_s": 55, "llm_timeout_s": 15, "memory_timeout_s": 10,
    "db_statement_timeout_s": 10, "db_pool_size": 10, "db_max_overflow": 5, "job_pool": 2,
}  # fmt: skip
DEPENDENCIES = ["llm_timeout_s", "memory_timeout_s", "db_statement_timeout_s"]


def run_check(
    check: str,
    values: dict[str, float],
    *,
    env: dict[str, str] | None = None,
    max_connections: int = 97,
    workers: int = 2,
    **params: Any,
) -> Outcome:
    checklist = Checklist.model_validate(
        {
            "deployment": {"workers": workers},
            "targets": {"svc": {"package": "svc", "app_factory": "svc.main:create_app",
                                "settings_values": values}},
            "items": [{"id": "X", "title": "t", "why": "w",
                       "evidence": [{"kind": "config", "check": check}]}],
        }
    )  # fmt: skip
    context = GateContext(
        repo_root=Path("."), target="svc", spec=checklist.targets["svc"], checklist=checklist,
        reports_dir=Path("reports"), max_age_hours=24, now=datetime.now(UTC), head_commit=None,
        head_commit_time=None, time_scale=1.0, env=env or {},
    )  # fmt: skip
    # the live database's answer, as pool_budget would read it
    context.cache["max_connections"] = (max_connections, "max_connections 100 - 3 reserved")
    return CONFIG_CHECKS[check](ConfigEvidence(kind="config", check=check, params=params), context)


def test_timeout_ordering_holds_at_the_configured_scale() -> None:
    outcome = run_check("timeout_ordering", REFACTORED_LIKE, dependencies=DEPENDENCIES)
    assert outcome.passed, outcome
    assert outcome.observed == (
        "LB 6s > app deadline 5.5s > llm timeout 1.5s > memory timeout 1s > "
        "db statement timeout 1s (TIME_SCALE 0.1)"
    )


def test_a_dependency_without_timeout_breaks_the_ordering() -> None:
    values = {k: v for k, v in REFACTORED_LIKE.items() if k not in {"llm_timeout_s"}}
    outcome = run_check("timeout_ordering", values, dependencies=DEPENDENCIES)
    assert not outcome.passed
    assert "llm timeout none" in outcome.observed
    assert outcome.details == ["llm timeout: none set, a slow dependency holds the request forever"]


def test_a_dependency_slower_than_the_app_fails() -> None:
    outcome = run_check("timeout_ordering", {**REFACTORED_LIKE, "llm_timeout_s": 60})
    assert not outcome.passed
    assert outcome.details == ["llm timeout 6s is not shorter than the app deadline"]


def test_without_an_app_deadline_gunicorn_must_be_shorter_than_the_lb() -> None:
    # ceil(55 x 0.1) = 6 s of gunicorn is not shorter than 6 s of LB: legacy's situation
    outcome = run_check("timeout_ordering", {"time_scale": 0.1, "llm_timeout_s": 15})
    assert not outcome.passed
    assert "load balancer 6s is not longer than the gunicorn timeout (no app deadline) 6s" in (
        outcome.details
    )


def test_pool_budget_fits() -> None:
    outcome = run_check("pool_budget", REFACTORED_LIKE)
    assert outcome.passed
    assert outcome.observed.startswith("(10+5)x2 workers + job 2 = 32 <= 97 usable")


def test_pool_budget_over_max_connections_fails() -> None:
    outcome = run_check("pool_budget", REFACTORED_LIKE, workers=8, max_connections=97)
    assert not outcome.passed
    assert outcome.observed.startswith("(10+5)x8 workers + job 2 = 122 > 97 usable")


def test_an_unbounded_job_pool_fails() -> None:
    outcome = run_check("pool_budget", {"db_pool_size": 5, "db_max_overflow": 10})
    assert not outcome.passed
    assert outcome.details == ["no setting bounds the nightly job's connections (one per user)"]


@pytest.mark.parametrize(
    ("env", "passed", "observed"),
    [
        ({}, True, "ENV is not production: no production key to check"),
        ({"ENV": "production"}, False, "SECRET_KEY is the placeholder; SECRET_KEY has 23 chars"),
        ({"ENV": "production", "SECRET_KEY": "a" * 40}, False, "fewer than 8 distinct"),
        ({"ENV": "production", "SECRET_KEY": "9f" * 4 + "0123456789abcdef" * 2}, True,
         "production SECRET_KEY: 40 chars"),
    ],
)  # fmt: skip
def test_secret_strength(env: dict[str, str], passed: bool, observed: str) -> None:
    outcome = run_check("secret_strength", {}, env=env)
    assert outcome.passed is passed
    assert observed in outcome.observed
