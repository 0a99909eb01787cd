"""Dynamic evidence from synthetic results, the gate's outputs (JUnit, JSON) and exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.checklist import Checklist, load_checklist
from harness.cli import app
from harness.gate import run_gate
from harness.gate_report import GateReport, write_outputs
from tests.unit.report.synthetic import NOW, TREE, both, run, scenario, write

pytestmark = pytest.mark.unit

CHECKLIST = """
version = 1
[targets.legacy]
package = "legacy"
app_factory = "legacy.main:create_app"
[targets.refactored]
package = "refactored"
app_factory = "refactored.main:create_app"

[[items]]
id = "R4"
title = "Circuit breaker"
why = "fail fast when the LLM is down"
evidence = [{ kind = "dynamic", run = "chaos", scenario = "llm_down" }]

[[items]]
id = "H1"
title = "No blocking I/O"
why = "a sync call freezes the loop"
evidence = [{ kind = "dynamic", run = "load", scenario = "three_am", expectations = ["no_504"] }]
"""


@pytest.fixture
def checklist_path(tmp_path: Path) -> Path:
    path = tmp_path / "checklist.toml"
    path.write_text(CHECKLIST)
    return path


def gate(checklist_path: Path, reports: Path, target: str, **kw: object) -> GateReport:
    checklist: Checklist = load_checklist(checklist_path)
    return run_gate(
        checklist, target, checklist_path=checklist_path, repo_root=reports.parent,
        reports_dir=reports, env={}, now=NOW + timedelta(hours=1), commit="abc123",
        **({"tree": TREE} | kw),  # type: ignore[arg-type]
    )  # fmt: skip


def good_runs(reports: Path) -> None:
    write(reports, run("chaos", both("llm_down")))
    write(reports, run("load", both("three_am", kind="load")))


def test_missing_results_fail_with_the_command_to_run(tmp_path: Path, checklist_path: Path) -> None:
    report = gate(checklist_path, tmp_path / "reports", "refactored")
    assert not report.passed
    observed = [i.evidence[0].outcome.observed for i in report.items]
    assert observed == [
        "no chaos results: run make chaos first",
        "no load results: run make load SCENARIO=three_am first",
    ]


def test_refactored_passes_and_legacy_fails_item_by_item(
    tmp_path: Path, checklist_path: Path
) -> None:
    reports = tmp_path / "reports"
    good_runs(reports)
    refactored = gate(checklist_path, reports, "refactored")
    assert refactored.passed, [i.failure_lines() for i in refactored.items]
    legacy = gate(checklist_path, reports, "legacy")
    assert [i.item.id for i in legacy.failed_items] == ["R4", "H1"]
    r4 = legacy.items[0].evidence[0].outcome
    assert r4.observed.startswith("p99_latency_ms: observed 6000ms, expected < 5000ms [0/2 pass]")
    assert "FAIL no_504: observed 27, expected == 0" in r4.details


def test_the_newest_run_that_measured_the_scenario_wins(
    tmp_path: Path, checklist_path: Path
) -> None:
    reports = tmp_path / "reports"
    old = run("chaos", [scenario("refactored", "llm_down", resilience_ok=False)],
              created=NOW - timedelta(hours=2))  # fmt: skip
    write(reports, old)
    write(reports, run("chaos", both("llm_down"), created=NOW - timedelta(hours=1)))
    # the newest chaos run measured another scenario only: llm_down comes from the one before
    write(reports, run("chaos", both("db_down")))
    write(reports, run("load", both("three_am", kind="load")))
    report = gate(checklist_path, reports, "refactored")
    assert report.passed
    assert "20261122-200000-chaos" in report.items[0].evidence[0].outcome.observed


def test_old_results_are_stale(tmp_path: Path, checklist_path: Path) -> None:
    reports = tmp_path / "reports"
    good_runs(reports)
    report = gate(checklist_path, reports, "refactored", max_age_hours=0.5)
    outcome = report.items[0].evidence[0].outcome
    assert not outcome.passed and outcome.stale
    assert outcome.observed.startswith("stale: run 20261122-210000-chaos is 1.0 h old")


def test_results_of_another_source_tree_are_stale(tmp_path: Path, checklist_path: Path) -> None:
    """Same commit, other files (an uncommitted edit, a new untracked file): stale."""
    reports = tmp_path / "reports"
    write(reports, run("chaos", both("llm_down"), tree="git-tree:" + "b" * 40))
    outcome = gate(checklist_path, reports, "refactored").items[0].evidence[0].outcome
    assert outcome.stale and not outcome.passed
    assert outcome.observed == (
        "stale: run 20261122-210000-chaos measured source tree git-tree:bbbbbbbbbbbb, the tree "
        "here is git-tree:aaaaaaaaaaaa (files changed since, committed or not); "
        "run make chaos first"
    )


def test_results_without_a_tree_hash_are_stale(tmp_path: Path, checklist_path: Path) -> None:
    reports = tmp_path / "reports"
    write(reports, run("chaos", both("llm_down"), commit=None, tree=None))
    write(reports, run("load", both("three_am", kind="load"), tree=None))
    report = gate(checklist_path, reports, "refactored")
    for item in report.items:
        outcome = item.evidence[0].outcome
        assert outcome.stale and not outcome.passed
        assert "recorded no source tree hash" in outcome.observed


def test_a_gate_that_cannot_hash_its_tree_trusts_no_run(
    tmp_path: Path, checklist_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    good_runs(reports)
    monkeypatch.setattr("harness.gate.current_tree", lambda root: None)
    outcome = gate(checklist_path, reports, "refactored", tree=None).items[0].evidence[0].outcome
    assert outcome.stale and "could not be hashed" in outcome.observed


def test_an_invalid_run_fails_and_says_the_fault_did_not_happen(
    tmp_path: Path, checklist_path: Path
) -> None:
    reports = tmp_path / "reports"
    write(reports, run("chaos", [scenario("refactored", "llm_down", sane=False)]))
    outcome = gate(checklist_path, reports, "refactored").items[0].evidence[0].outcome
    assert not outcome.passed
    assert outcome.observed.startswith("invalid run: the fault or load did not happen")
    assert outcome.details == ["sanity check failed: fault_applied: observed 0, expected == 1"]


def test_an_unknown_expectation_name_lists_the_known_ones(
    tmp_path: Path, checklist_path: Path
) -> None:
    checklist_path.write_text(CHECKLIST.replace('["no_504"]', '["no_505"]'))
    reports = tmp_path / "reports"
    good_runs(reports)
    outcome = gate(checklist_path, reports, "refactored").items[1].evidence[0].outcome
    assert not outcome.passed
    assert outcome.details == [
        "unknown expectation no_505 in scenario three_am; "
        "known: fault_applied, no_504, p99_latency_ms"
    ]


def _broken(reports: Path, name: str) -> Path:
    (reports / name).mkdir(parents=True)
    file = reports / name / "results.json"
    file.write_text("{not json")
    return file


def test_unreadable_results_are_reported_when_nothing_else_is_there(
    tmp_path: Path, checklist_path: Path
) -> None:
    reports = tmp_path / "reports"
    _broken(reports, "broken")
    outcome = gate(checklist_path, reports, "refactored").items[0].evidence[0].outcome
    assert not outcome.passed
    assert outcome.observed == (
        "error: unreadable results reports/broken/results.json: fix or delete it, "
        "or run make chaos again"
    )
    assert any("cannot read" in d and "broken" in d for d in outcome.details)


def test_an_unreadable_run_newer_than_the_one_used_fails_and_names_the_file(
    tmp_path: Path, checklist_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A readable older run must not hide a newer run the gate cannot read."""
    reports = tmp_path / "reports"
    good_runs(reports)  # chaos run 20261122-210000-chaos passes
    _broken(reports, "20261122-213000-chaos")
    report = gate(checklist_path, reports, "refactored")
    outcome = report.items[0].evidence[0].outcome
    assert not outcome.passed
    assert outcome.observed.startswith(
        "error: unreadable results reports/20261122-213000-chaos/results.json"
    )
    assert outcome.details[-1] == (
        "it may hold newer refactored/llm_down results than run 20261122-210000-chaos"
    )
    assert report.items[1].passed  # a broken chaos run says nothing about load runs
    monkeypatch.setattr("harness.gate.head_commit", lambda root: "abc123")
    monkeypatch.setattr("harness.gate.current_tree", lambda root: TREE)
    args = ["gate", "--checklist", str(checklist_path), "--max-age-hours", "1000"]
    code, output = _cli([*args, "--target", "refactored"], reports, monkeypatch)
    assert code == 1, output
    assert "20261122-213000-chaos/results.json" in output


def test_an_unreadable_run_older_than_the_one_used_is_a_warning(
    tmp_path: Path, checklist_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    good_runs(reports)
    _broken(reports, "20261122-200000-chaos")
    _broken(reports, "20261122-230000-bench")  # another kind: not chaos evidence at all
    report = gate(checklist_path, reports, "refactored")
    assert report.passed, [i.failure_lines() for i in report.items]
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith(
        "skipped unreadable reports/20261122-200000-chaos/results.json "
        "(older than run 20261122-210000-chaos): cannot read"
    )
    monkeypatch.setattr("harness.gate.head_commit", lambda root: "abc123")
    monkeypatch.setattr("harness.gate.current_tree", lambda root: TREE)
    args = ["gate", "--checklist", str(checklist_path), "--max-age-hours", "1000"]
    code, output = _cli([*args, "--target", "refactored"], reports, monkeypatch)
    assert code == 0, output
    assert "warning: skipped unreadable " in output
    assert "/reports/20261122-200000-chaos/results.json (older than run" in output
    data = json.loads((reports / "gate" / "refactored-verdict.json").read_text())
    assert len(data["warnings"]) == 1 and "20261122-200000-chaos" in data["warnings"][0]


def test_stale_results_say_what_to_run(tmp_path: Path, checklist_path: Path) -> None:
    reports = tmp_path / "reports"
    write(reports, run("chaos", both("llm_down"), commit="def456", tree="git-tree:old"))
    write(reports, run("load", both("three_am", kind="load"), commit="def456", tree="sha256:x"))
    report = gate(checklist_path, reports, "refactored")
    chaos, load = (i.evidence[0].outcome for i in report.items)
    assert chaos.stale and chaos.observed.endswith("; run make chaos first")
    assert load.stale and load.observed.endswith("; run make load SCENARIO=three_am first")
    old = gate(checklist_path, reports, "refactored", max_age_hours=0.5)
    assert (
        old.items[0]
        .evidence[0]
        .outcome.observed.endswith("(> --max-age-hours 0.5); run make chaos first")
    )


def test_a_dirty_run_counts_exactly_when_its_tree_is_the_gate_s(
    tmp_path: Path, checklist_path: Path
) -> None:
    """Uncommitted changes are part of the tree hash: the same dirty tree is evidence,
    the same commit with other uncommitted changes is not."""
    reports = tmp_path / "reports"
    dirty = run("chaos", both("llm_down"))
    dirty.environment["git_dirty"] = True
    write(reports, dirty)
    write(reports, run("load", both("three_am", kind="load")))
    assert gate(checklist_path, reports, "refactored").passed
    edited = gate(checklist_path, reports, "refactored", tree="git-tree:" + "c" * 40)
    assert not edited.passed
    assert all(i.evidence[0].outcome.stale for i in edited.items)


def test_junit_and_verdict_files(tmp_path: Path, checklist_path: Path) -> None:
    reports = tmp_path / "reports"
    good_runs(reports)
    report = gate(checklist_path, reports, "legacy")
    junit, verdict = write_outputs(report, tmp_path / "gate")
    assert junit.name == "legacy-junit.xml" and verdict.name == "legacy-verdict.json"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "2"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["R4 Circuit breaker", "H1 No blocking I/O"]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == "fail fast when the LLM is down"
    assert "p99_latency_ms" in (failure.text or "")
    data = json.loads(verdict.read_text())
    assert data["verdict"] == "fail" and data["failed_items"] == ["R4", "H1"]
    assert data["items"][0]["evidence"][0]["label"] == "chaos:llm_down[all]"


def _cli(args: list[str], reports: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("REPORTS_DIR", str(reports))
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_gate_command_exit_codes(
    tmp_path: Path, checklist_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    good_runs(reports)
    monkeypatch.setattr("harness.gate.head_commit", lambda root: "abc123")
    monkeypatch.setattr("harness.gate.current_tree", lambda root: TREE)
    args = ["gate", "--checklist", str(checklist_path), "--max-age-hours", "1000"]
    code, output = _cli([*args, "--target", "refactored"], reports, monkeypatch)
    assert code == 0, output
    assert "GATE PASSED" in output
    assert (reports / "gate" / "refactored-junit.xml").exists()
    code, output = _cli([*args, "--target", "legacy"], reports, monkeypatch)
    assert code == 1
    assert "FAIL R4 Circuit breaker: fail fast when the LLM is down" in output
    assert "FAIL H1 No blocking I/O" in output
    code, output = _cli([*args, "--target", "prod"], reports, monkeypatch)
    assert code == 2 and "unknown target 'prod'" in output
    checklist_path.write_text("[[items]\n")
    code, output = _cli(args, reports, monkeypatch)
    assert code == 2 and "not valid TOML" in output


def test_an_unknown_scenario_name_lists_the_runner_s_scenarios(
    tmp_path: Path, checklist_path: Path
) -> None:
    checklist_path.write_text(CHECKLIST.replace('scenario = "llm_down"', 'scenario = "llm_dwn"'))
    outcome = gate(checklist_path, tmp_path / "reports", "refactored").items[0].evidence[0].outcome
    assert outcome.observed == "checklist error: unknown chaos scenario 'llm_dwn'"
    assert outcome.details[0].startswith("unknown chaos scenario 'llm_dwn'; known: llm_latency,")


def test_expect_failures_passes_only_on_exactly_those_items_failing_on_evidence(
    tmp_path: Path, checklist_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    good_runs(reports)  # legacy fails R4 and H1 on evidence
    monkeypatch.setattr("harness.gate.head_commit", lambda root: "abc123")
    monkeypatch.setattr("harness.gate.current_tree", lambda root: TREE)
    args = ["gate", "--checklist", str(checklist_path), "--max-age-hours", "1000"]
    legacy = [*args, "--target", "legacy", "--expect-failures"]
    code, output = _cli([*legacy, "R4,H1"], reports, monkeypatch)
    assert code == 0, output
    assert "AS EXPECTED: legacy fails exactly H1, R4" in output
    code, output = _cli([*legacy, "R4"], reports, monkeypatch)
    assert code == 1 and "NOT AS EXPECTED: H1 fails on legacy, not an expected failure" in output
    code, output = _cli(["gate", "--checklist", str(checklist_path), "--max-age-hours", "1000",
                         "--target", "refactored", "--expect-failures", "R4"], reports,
                        monkeypatch)  # fmt: skip
    assert code == 1
    assert "NOT AS EXPECTED: R4 passes on refactored, expected to fail: lost difference" in output


def test_an_expected_failure_must_be_measured_not_stale(
    tmp_path: Path, checklist_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    write(reports, run("chaos", both("llm_down"), tree="git-tree:old"))
    write(reports, run("load", both("three_am", kind="load")))
    monkeypatch.setattr("harness.gate.head_commit", lambda root: "abc123")
    monkeypatch.setattr("harness.gate.current_tree", lambda root: TREE)
    args = ["gate", "--checklist", str(checklist_path), "--max-age-hours", "1000"]
    code, output = _cli([*args, "--target", "legacy", "--expect-failures", "R4,H1"], reports,
                        monkeypatch)  # fmt: skip
    assert code == 1
    assert "NOT AS EXPECTED: R4 fails for want of evidence, not as expected" in output
    assert "H1" not in output.split("NOT AS EXPECTED")[-1]
