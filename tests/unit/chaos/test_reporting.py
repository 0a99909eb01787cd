"""report.md and report.html from synthetic RunResults (any kind of run)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from harness.reporting import REPORT_HTML, REPORT_MD, write_report
from testbed.results import Expectation, RunResults, ScenarioResult
from testbed.stats import bucket_series

pytestmark = pytest.mark.unit


def result(
    target: str, scenario: str, *, ok: bool, expected_to_fail: bool = False
) -> ScenarioResult:
    latency = 40.0 if ok else 6000.0
    samples = [(i * 0.5, 200 if ok or i < 4 else 504, latency) for i in range(24)]
    return ScenarioResult(
        target=target,
        scenario=scenario,
        kind="chaos",
        started_at="2026-11-22T21:00:00+00:00",
        duration_s=12.0,
        expected_to_fail=expected_to_fail,
        description=f"{scenario}: the fault and what must hold",
        expectations=[
            Expectation.check("fault_injected", "sanity", 1, "==", 1, role="sanity"),
            Expectation.check("no_504", "504s during the fault", 0 if ok else 20, "==", 0),
            Expectation.check("p95_ms", "p95 latency", latency, "<", 3000, unit="ms"),
        ],
        requests_total=24,
        status_counts={"200": 24} if ok else {"200": 4, "504": 20},
        latency_ms={"count": 24, "p50": latency, "p95": latency, "p99": latency, "max": latency},
        health_latency_ms={"count": 10, "p50": 2.0, "p95": 3.0, "p99": 4.0, "max": 5.0},
        llm_calls={"total": 72, "per_request": 3.0},
        breaker_transitions=[
            {"dependency": "llm", "from_state": "closed", "to_state": "open", "count": 1}
        ]
        if ok
        else [],
        alerts={"P0": 1, "P1": 0, "P2": 2, "titles": ["breaker open"]},
        integrity={"lost_updates": 0, "half_written": 0},
        fault_windows=[{"label": "llm_slow", "start_s": 2.0, "end_s": 10.0}],
        series=bucket_series(samples),
        notes=["a note | with a pipe"],
        extra={"health_series": bucket_series((t, 200, 3.0) for t, _s, _l in samples)},
    )


def chaos_run() -> RunResults:
    return RunResults(
        run_id="20261122-210000-chaos",
        kind="chaos",
        created_at="2026-11-22T21:00:00+00:00",
        finished_at="2026-11-22T21:05:00+00:00",
        time_scale=0.1,
        command="python -m harness chaos --scenario all",
        environment={
            "cpus": 2,
            "skipped": [{"scenario": "broker_down", "reason": "AMQP_URL unset"}],
        },
        results=[
            result("legacy", "llm_latency", ok=False, expected_to_fail=True),
            result("refactored", "llm_latency", ok=True),
            result("legacy", "db_down", ok=False, expected_to_fail=True),
            result("refactored", "db_down", ok=False),
        ],
    )


def test_markdown_has_the_summary_and_side_by_side_expectations(tmp_path: Path) -> None:
    md_path, html_path = write_report(chaos_run(), tmp_path)
    assert md_path == tmp_path / REPORT_MD and html_path == tmp_path / REPORT_HTML
    md = md_path.read_text()
    assert "**Result: FAILED**" in md  # refactored failed db_down
    assert "| scenario | legacy | refactored |" in md
    summary = md.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert re.search(
        r"\| llm_latency \| 🟠 expected_fail · 24 req, 20 5xx.* \| ✅ pass · 24 req", summary
    )
    assert "❌ fail" in summary
    section = md.split("## llm_latency", 1)[1].split("\n## ", 1)[0]
    assert "| `no_504` 504s during the fault | == 0 | ❌ 20 | ✅ 0 |" in section
    assert "| `p95_ms` p95 latency | < 3000ms | ❌ 6000ms | ✅ 40ms |" in section
    assert "llm closed→open x1" in section
    assert "- note (legacy): a note | with a pipe" in section
    assert "skipped: broker_down (AMQP_URL unset)" in md


def test_html_is_self_contained_with_one_plot_per_scenario(tmp_path: Path) -> None:
    _md, html_path = write_report(chaos_run(), tmp_path)
    page = html_path.read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 2
    assert all(base64.b64decode(img).startswith(b"\x89PNG\r\n\x1a\n") for img in images)
    # nothing fetched from elsewhere: no external scripts, stylesheets or images
    assert not re.search(r"(src|href)=['\"]https?://", page)
    assert "<script" not in page
    assert "expected_fail" in page and "class='ko'" in page


def test_any_run_kind_without_series_or_second_target_renders(tmp_path: Path) -> None:
    bare = ScenarioResult(
        target="refactored",
        scenario="three_am",
        kind="load",
        started_at="2026-11-22T21:00:00+00:00",
        duration_s=30.0,
        expectations=[Expectation.check("no_504", "504s", 0, "==", 0)],
    )
    run = RunResults(
        run_id="r",
        kind="load",
        created_at="2026-11-22T21:00:00+00:00",
        time_scale=1.0,
        results=[bare],
    )
    md_path, html_path = write_report(run, tmp_path / "new")
    assert "| three_am | ✅ pass · 0 req |" in md_path.read_text()
    assert "data:image/png" not in html_path.read_text()
