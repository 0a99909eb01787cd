"""Config checks on given settings values (no child process, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.checklist import Checklist, ConfigEvidence
from harness.evidence.base import EvidenceError, GateContext, Outcome
from harness.evidence.config import CONFIG_CHECKS
from tests.unit.report.synthetic import both, run, write

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
    max_connections: int | None = 97,
    workers: int = 2,
    reports: Path | None = None,
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
        reports_dir=reports or Path("/nonexistent/reports"), max_age_hours=24,
        now=datetime.now(UTC), head_commit=None, head_commit_time=None, time_scale=1.0,
        env=env or {},
    )  # fmt: skip
    if max_connections is not None:  # the database's answer, as pool_budget would read it
        context.cache["max_connections"] = (max_connections, "max_connections 100 - 3 reserved")
    return CONFIG_CHECKS[check](ConfigEvidence(kind="config", check=check, params=params), context)


def test_timeout_ordering_holds_at_the_configured_scale() -> None:
    outcome = run_check("timeout_ordering", REFACTORED_LIKE, dependencies=DEPENDENCIES)
    assert outcome.passed, outcome
    assert outcome.observed == (
        "LB 6.5s > app deadline 5.5s > llm timeout 1.5s > memory timeout 1s > "
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
    assert outcome.details == [
        "app deadline 5.5s is not at least 1s longer than the llm timeout 6s (margin -0.5s)"
    ]


def test_an_ordered_ladder_without_a_second_of_margin_fails() -> None:
    """5.5 s > 5 s is ordered, but a deadline answer must not race the dependency."""
    outcome = run_check("timeout_ordering", {**REFACTORED_LIKE, "llm_timeout_s": 50})
    assert not outcome.passed
    assert outcome.details == [
        "app deadline 5.5s is not at least 1s longer than the llm timeout 5s (margin 0.5s)"
    ]


def test_without_an_app_deadline_gunicorn_must_be_a_second_shorter_than_the_lb() -> None:
    # ceil(55 x 0.1) = 6 s of gunicorn, 0.5 s under the 6.5 s LB: legacy's situation
    outcome = run_check("timeout_ordering", {"time_scale": 0.1, "llm_timeout_s": 15})
    assert not outcome.passed
    assert (
        "load balancer 6.5s is not at least 1s longer than the gunicorn timeout "
        "(no app deadline) 6s (margin 0.5s)"
    ) in outcome.details


def test_pool_budget_fits() -> None:
    outcome = run_check("pool_budget", REFACTORED_LIKE)
    assert outcome.passed
    assert outcome.observed.startswith("(10+5)x2 workers + job 2 = 32 <= 97 usable")


def test_pool_budget_over_max_connections_fails() -> None:
    outcome = run_check("pool_budget", REFACTORED_LIKE, workers=8, max_connections=97)
    assert not outcome.passed
    assert outcome.observed.startswith("(10+5)x8 workers + job 2 = 122 > 97 usable")


def _recorded(reports: Path, name: str, **environment: Any) -> None:
    """A chaos run whose stack recorded ``environment`` (max_connections, workers, ...)."""
    created = datetime.strptime(name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    chaos = run("chaos", both("llm_down"), run_id=name, created=created)
    chaos.environment.update(environment)
    write(reports, chaos)


def test_without_database_url_pool_budget_uses_the_newest_run_s_record(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _recorded(reports, "20261122-200000-chaos", max_connections=20, workers=2)
    _recorded(reports, "20261122-210000-chaos", max_connections=300,
              superuser_reserved_connections=3, database="embedded")  # fmt: skip
    outcome = run_check("pool_budget", REFACTORED_LIKE, max_connections=None, reports=reports)
    assert outcome.passed, outcome
    assert outcome.observed == (
        "(10+5)x2 workers + job 2 = 32 <= 297 usable (max_connections 300 - 3 reserved, as run "
        "20261122-210000-chaos recorded its embedded database; no DATABASE_URL; "
        "workers of run 20261122-210000-chaos)"
    )


def test_a_recorded_max_connections_too_small_fails(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _recorded(reports, "20261122-210000-chaos", max_connections=30)  # reserve not recorded
    outcome = run_check("pool_budget", REFACTORED_LIKE, max_connections=None, reports=reports)
    assert not outcome.passed
    assert outcome.observed.startswith(
        "(10+5)x2 workers + job 2 = 32 > 27 usable (max_connections 30 - 3 reserved "
        "(PostgreSQL's default), as run 20261122-210000-chaos"
    )


def test_the_run_s_worker_count_beats_the_checklist_s(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _recorded(reports, "20261122-210000-chaos", workers=4)
    outcome = run_check("pool_budget", REFACTORED_LIKE, reports=reports, workers=2)
    assert outcome.observed.startswith("(10+5)x4 workers + job 2 = 62 <= 97 usable")
    assert outcome.observed.endswith("; workers of run 20261122-210000-chaos)")
    without_runs = run_check("pool_budget", REFACTORED_LIKE, workers=3)
    assert without_runs.observed.startswith("(10+5)x3 workers + job 2 = 47 <= 97 usable")
    assert without_runs.observed.endswith("; workers from the checklist's [deployment])")


def test_a_run_that_measured_nothing_is_no_record(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _recorded(reports, "20261122-200000-chaos", max_connections=300, workers=2)
    later = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
    empty = run("chaos", [], run_id="20261122-210000-chaos", created=later)  # never booted
    empty.environment.update({"workers": 6, "max_connections": 10})
    write(reports, empty)
    outcome = run_check("pool_budget", REFACTORED_LIKE, max_connections=None, reports=reports)
    assert outcome.passed, outcome
    assert "x2 workers" in outcome.observed and "run 20261122-200000-chaos" in outcome.observed


def test_without_database_url_or_a_record_pool_budget_says_what_to_do(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _recorded(reports, "20261122-210000-chaos",
              max_connections_error="OperationalError: connection refused")  # fmt: skip
    with pytest.raises(EvidenceError) as error:
        run_check("pool_budget", REFACTORED_LIKE, max_connections=None, reports=reports)
    message = str(error.value)
    assert message.startswith(
        "pool_budget needs max_connections: set DATABASE_URL to the database, or run make chaos"
    )
    assert "20261122-210000-chaos: OperationalError: connection refused" in message


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


def test_unbounded_pools_fail_as_such_even_without_a_database_limit(tmp_path: Path) -> None:
    legacy_like = {"db_pool_size": 5, "db_max_overflow": 10}
    outcome = run_check("pool_budget", legacy_like, max_connections=None, reports=tmp_path)
    assert not outcome.passed
    assert outcome.observed == "unbounded; database limit unknown"
    assert outcome.details[0] == "no setting bounds the nightly job's connections (one per user)"
    assert outcome.details[1].startswith("pool_budget needs max_connections: set DATABASE_URL")


def test_database_facts_never_fail_a_run() -> None:
    from testbed.run_facts import database_facts

    facts = database_facts("postgresql://probe@127.0.0.1:9/probe")
    assert set(facts) == {"max_connections_error"}
    assert facts["max_connections_error"].startswith("OperationalError: ")
