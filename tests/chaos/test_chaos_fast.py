"""The FAST chaos profile: the real stack at TIME_SCALE=0.1, two scenarios, both targets.

Proves the suite end to end (stack boot, faults through Toxiproxy, load through Caddy,
measurements, verdicts, results.json + report) and that it shows the difference: the
refactored service passes, legacy fails the way the 3am incident did.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from harness.chaos_run import ChaosOptions, run_chaos

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(420)]

FAST_SCENARIOS = ("llm_latency", "db_down")


def test_fast_profile_refactored_passes_legacy_fails_as_the_incident_did(tmp_path: Path) -> None:
    out = io.StringIO()
    run, run_dir = run_chaos(
        ChaosOptions(
            scenarios=",".join(FAST_SCENARIOS),
            targets="both",
            time_scale=0.1,
            log_dir=tmp_path / "logs",
            reports_base=tmp_path / "reports",
            command="pytest tests/chaos (fast profile)",
        ),
        Console(file=out, width=160),
    )
    details = "\n".join(
        f"{r.target}/{r.scenario}: {r.verdict}: "
        + "; ".join(e.describe() for e in r.failed_expectations())
        + (f" notes: {r.notes}" if r.notes else "")
        for r in run.results
    )
    verdicts = {(r.target, r.scenario): r.verdict for r in run.results}
    assert verdicts == {
        ("legacy", "llm_latency"): "expected_fail",
        ("legacy", "db_down"): "expected_fail",
        ("refactored", "llm_latency"): "pass",
        ("refactored", "db_down"): "pass",
    }, details
    assert run.passed, details

    # legacy fails for the incident's reasons, measured
    legacy_latency = run.find("legacy", "llm_latency")
    assert legacy_latency is not None
    failed = {e.name for e in legacy_latency.failed_expectations()}
    assert {"no_504", "health_p95_ms_during_fault"} <= failed, details
    legacy_db = run.find("legacy", "db_down")
    assert legacy_db is not None
    assert "db_down_503_retry_after_share" in {e.name for e in legacy_db.failed_expectations()}

    # what the run wrote: results.json (the one format), report.md, a self-contained report.html
    data = json.loads((run_dir / "results.json").read_text())
    assert data["kind"] == "chaos" and data["passed"] is True and len(data["results"]) == 4
    assert (tmp_path / "reports" / "latest").resolve() == run_dir.resolve()
    assert "| llm_latency |" in (run_dir / "report.md").read_text()
    assert (run_dir / "report.html").read_text().count("data:image/png;base64,") == 2
