"""The gate's contracts evidence: the newest contract summary of this very tree, no mismatch,
enough examples; and the contract tier's summary records the tree it compared."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from contracts.report import ContractRun, write_report
from harness.checklist import load_checklist
from harness.gate import run_gate
from harness.gate_report import GateReport
from tests.unit.report.synthetic import NOW, TREE

pytestmark = pytest.mark.unit

CHECKLIST = """
version = 1
[targets.refactored]
package = "refactored"
app_factory = "refactored.main:create_app"

[[items]]
id = "C1"
title = "Scores equal"
why = "the migration must not change a score"
evidence = [{ kind = "contracts", min_examples = 200, min_requests = 40 }]
"""


def _summary(reports: Path, name: str = "20261122T205000000000Z", **over: Any) -> None:
    data: dict[str, Any] = {
        "profile": "fast",
        "started_at": NOW.isoformat(),
        "duration_s": 60.0,
        "examples_total": 400,
        "requests_replayed": 80,
        "mismatch_count": 0,
        "mismatches": [],
        "source_tree": TREE,
        "git_commit": "abc123",
        "git_dirty": True,
    } | over
    data = {k: v for k, v in data.items() if v is not None}
    (reports / "contracts" / name).mkdir(parents=True)
    (reports / "contracts" / name / "summary.json").write_text(json.dumps(data))


def _gate(tmp_path: Path, reports: Path, **kw: Any) -> GateReport:
    path = tmp_path / "checklist.toml"
    path.write_text(CHECKLIST)
    return run_gate(
        load_checklist(path), "refactored", checklist_path=path, repo_root=tmp_path,
        reports_dir=reports, env={}, now=NOW + timedelta(hours=1), commit="abc123",
        **({"tree": TREE} | kw),
    )  # fmt: skip


def _outcome(tmp_path: Path, reports: Path, **kw: Any) -> Any:
    return _gate(tmp_path, reports, **kw).items[0].evidence[0].outcome


def test_a_clean_summary_of_this_tree_passes(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _summary(reports)
    outcome = _outcome(tmp_path, reports)
    assert outcome.passed, outcome
    assert outcome.observed.startswith("0 mismatches over 400 examples, 80 replayed requests")


def test_no_summary_says_what_to_run(tmp_path: Path) -> None:
    outcome = _outcome(tmp_path, tmp_path / "reports")
    assert not outcome.passed
    assert outcome.observed == "no contract results: run make contracts first"


def test_a_mismatch_fails_and_shows_the_input(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    mismatch = {"check": "score_rules", "input": "messages=['hi']", "diff": ["- 3", "+ 4"]}
    _summary(reports, mismatch_count=1, mismatches=[mismatch])
    outcome = _outcome(tmp_path, reports)
    assert not outcome.passed and outcome.observed.startswith("1 mismatches")
    assert outcome.details == ["mismatch in score_rules: messages=['hi']"]


def test_too_few_examples_or_requests_prove_nothing(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _summary(reports, examples_total=12, requests_replayed=None)
    outcome = _outcome(tmp_path, reports)
    assert not outcome.passed
    assert outcome.details == [
        "only 12 examples tried, the item needs 200",
        "only -1 requests replayed, the item needs 40",
    ]


def test_another_tree_or_no_tree_is_stale_and_only_the_newest_counts(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _summary(reports)  # an older summary of this tree does not rescue a newer stale one
    _summary(reports, "20261122T205500000000Z", source_tree="git-tree:" + "b" * 40)
    outcome = _outcome(tmp_path, reports)
    assert outcome.stale and not outcome.passed
    assert "measured source tree git-tree:bbbbbbbbbbbb" in outcome.observed
    assert outcome.observed.endswith("; run make contracts first")
    _summary(reports, "20261122T205900000000Z", source_tree=None)
    assert "recorded no source tree hash" in _outcome(tmp_path, reports).observed


def test_an_old_summary_is_stale(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _summary(reports)
    outcome = _outcome(tmp_path, reports, max_age_hours=0.5)
    assert outcome.stale and "h old (> --max-age-hours 0.5)" in outcome.observed


def test_the_contract_tier_s_summary_records_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path))
    run = ContractRun(profile="fast", provenance={"source_tree": TREE, "git_commit": "abc"})
    run.count_example("score_rules")
    run_dir = write_report(run, 1.0)
    assert run_dir is not None
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["source_tree"] == TREE and summary["git_commit"] == "abc"
    assert "provenance" not in summary
