"""The contract tier's failure output: the first diverging request and a field-by-field diff."""

from __future__ import annotations

import json

import pytest

from contracts.adapters import field_diff
from contracts.replay import Request, first_divergence, generate
from contracts.report import ContractRun, write_report

pytestmark = pytest.mark.unit


def test_first_divergence_names_the_request_and_the_fields() -> None:
    reqs = [Request("GET", "/a"), Request("POST", "/b", {"x": 1})]
    same = {"status": 200, "body": {"score": 1}}
    text = first_divergence(
        reqs,
        [same, {"status": 200, "body": {"score": 5, "level": "s"}}],
        [same, {"status": 200, "body": {"score": 6, "level": "s"}}],
    )
    assert text is not None and "request #1" in text and "score: 5 != 6" in text
    assert "level" not in text.split("score")[-1]
    assert first_divergence(reqs, [same, same], [same, same]) is None


def test_field_diff_recurses_into_topic_metrics() -> None:
    diff = field_diff({"t": {"food": {"mentions": 1}}}, {"t": {"food": {"mentions": 2}}})
    assert diff == ["t.food.mentions: legacy=1 refactored=2"]


def test_generated_sequences_are_deterministic_and_rich() -> None:
    seq = generate(7, 80)
    assert seq == generate(7, 80)
    paths = {r.path.split("/")[2] for r in seq}
    assert {"conversations", "friendships", "activities", "admin"} <= paths
    ids = [r.body["conversation_id"] for r in seq if r.body and "conversation_id" in r.body]
    assert len(ids) > len(set(ids)), "some conversation_id must repeat"


def test_report_files(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path))
    run = ContractRun(profile="fast")
    run.count_example("score")
    run.add_mismatch("score", "case", ["score: legacy=1 refactored=2"])
    run_dir = write_report(run, 1.0)
    assert run_dir is not None and run_dir.parent == tmp_path / "contracts"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["examples_total"] == 1 and summary["mismatch_count"] == 1
    assert "score: legacy=1 refactored=2" in (run_dir / "report.md").read_text()
