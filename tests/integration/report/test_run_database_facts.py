"""The runs record the database's max_connections (the gate's pool_budget reads them when
the embedded PostgreSQL is gone), and pool_budget prefers the live DATABASE_URL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg2
import pytest

from harness.checklist import Checklist, ConfigEvidence
from harness.evidence.base import GateContext, Outcome
from harness.evidence.config import pool_budget
from testbed.run_facts import database_facts
from tests.unit.report.synthetic import both, run, write

pytestmark = pytest.mark.integration

REFACTORED_LIKE = {"db_pool_size": 10, "db_max_overflow": 5, "job_pool": 2}


def _show(url: str) -> tuple[int, int]:
    with psycopg2.connect(url, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SHOW max_connections")
        max_connections = int(cur.fetchone()[0])
        cur.execute("SHOW superuser_reserved_connections")
        reserved = int(cur.fetchone()[0])
    conn.close()
    return max_connections, reserved


def test_database_facts_read_the_server_s_limits(pg_admin_url: str) -> None:
    max_connections, reserved = _show(pg_admin_url)
    assert database_facts(pg_admin_url) == {
        "max_connections": max_connections,
        "superuser_reserved_connections": reserved,
    }


def _stack_info(database_url: str) -> Any:
    target = SimpleNamespace(
        database_url=database_url, toxiproxy_kind="embedded", lb_timeout_s=6.0,
        app_timeout_s=5.5, fakes={}, lb_url="http://127.0.0.1:9", service_url="http://127.0.0.1:9",
        metrics_url=None, admin_token="t", toxiproxy_url="http://127.0.0.1:9", proxies={}, env={},
    )  # fmt: skip
    return SimpleNamespace(
        workers=2, time_scale=0.1, amqp_url=None, targets={"refactored": target},
        database={"kind": "embedded", "admin_url": "postgresql://postgres@127.0.0.1:9/x"},
    )  # fmt: skip


def test_a_chaos_run_records_max_connections(pg_admin_url: str) -> None:
    from harness.chaos_run import _stack_facts

    facts = _stack_facts(_stack_info(pg_admin_url))
    assert (facts["max_connections"], facts["superuser_reserved_connections"]) == _show(
        pg_admin_url
    )
    assert facts["database"] == "embedded" and facts["workers"] == 2


def test_a_load_run_records_max_connections(
    pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness import loadsuite

    info = _stack_info(pg_admin_url)
    monkeypatch.setattr(loadsuite, "start_stack", lambda group, config: info)
    with loadsuite.booted_stack(["refactored"], 0.1, 2, tmp_path / "logs") as handle:
        facts = handle.facts
    assert (facts["max_connections"], facts["superuser_reserved_connections"]) == _show(
        pg_admin_url
    )
    assert facts["database"] == "embedded" and facts["workers"] == 2


def _pool_budget(reports: Path, env: dict[str, str]) -> Outcome:
    checklist = Checklist.model_validate(
        {
            "targets": {"svc": {"package": "svc", "app_factory": "svc.main:create_app",
                                "settings_values": REFACTORED_LIKE}},
            "items": [{"id": "X", "title": "t", "why": "w",
                       "evidence": [{"kind": "config", "check": "pool_budget"}]}],
        }
    )  # fmt: skip
    context = GateContext(
        repo_root=Path("."), target="svc", spec=checklist.targets["svc"], checklist=checklist,
        reports_dir=reports, max_age_hours=24, now=datetime.now(UTC), head_commit=None,
        head_commit_time=None, time_scale=1.0, env=env,
    )  # fmt: skip
    return pool_budget(ConfigEvidence(kind="config", check="pool_budget"), context)


def test_pool_budget_prefers_the_live_database_over_a_run_s_record(
    pg_admin_url: str, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    recorded = run("chaos", both("llm_down"))
    recorded.environment.update({"max_connections": 20, "superuser_reserved_connections": 3})
    write(reports, recorded)
    max_connections, reserved = _show(pg_admin_url)
    live = _pool_budget(reports, {"DATABASE_URL": pg_admin_url})
    assert live.passed, live
    assert (
        f"<= {max_connections - reserved} usable (max_connections {max_connections} - "
        f"{reserved} reserved, live DATABASE_URL; workers of run {recorded.run_id})"
    ) in live.observed
    offline = _pool_budget(reports, {})
    assert not offline.passed
    assert "32 > 17 usable" in offline.observed and "no DATABASE_URL" in offline.observed
