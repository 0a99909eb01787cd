"""Probe evidence in the gate: it decides items, static reading only explains them, and a
copy of a tree is judged on fresh evidence only (the probe itself: test_gate_mutations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import gate as gate_module
from harness.checklist import ChecklistError, load_checklist
from harness.evidence.base import Outcome
from harness.gate import run_gate
from harness.gate_report import GateReport

pytestmark = pytest.mark.unit

CHECKLIST = """
version = 1
[targets.svc]
package = "svc"
app_factory = "svc.main:create_app"

[[items]]
id = "R5"
title = "TLS verification on"
why = "no man in the middle"
evidence = [
  { kind = "probe", check = "tls_refused" },
  { kind = "static", check = "tls_verified" },
  { kind = "dynamic", run = "chaos", scenario = "llm_down" },
]

[[items]]
id = "H3"
title = "Backoff"
why = "run evidence only"
evidence = [{ kind = "dynamic", run = "chaos", scenario = "llm_429_storm" }]

[[items]]
id = "H6"
title = "Tracing"
why = "spans"
evidence = [{ kind = "static", check = "tls_verified" }]
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "__init__.py").write_text("")
    (tmp_path / "svc" / "client.py").write_text(
        "import httpx\nclient = httpx.Client(timeout=5, verify=False)\n"
    )
    (tmp_path / "checklist.toml").write_text(CHECKLIST)
    return tmp_path


def judge(tree: Path, monkeypatch: pytest.MonkeyPatch, probe: Outcome, **kw: Any) -> GateReport:
    seen: list[str] = []

    def fake_probe(evidence: Any, context: Any) -> Outcome:
        seen.append(evidence.check)
        return probe

    monkeypatch.setattr(gate_module, "probe_check", fake_probe)
    checklist = load_checklist(tree / "checklist.toml")
    return run_gate(
        checklist, "svc", checklist_path=tree / "checklist.toml", repo_root=tree,
        reports_dir=tree / "reports", env={}, commit="abc", tree="t", **kw,
    )  # fmt: skip


def test_static_findings_explain_an_item_the_probe_measures(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = judge(tree, monkeypatch, Outcome.ok("refused"), fresh_only=True)
    r5, h6 = report.items
    assert r5.passed  # the probe passed; verify=False found statically only explains
    static = next(e for e in r5.evidence if e.kind == "static")
    assert not static.outcome.passed and not static.decisive
    assert not h6.passed  # no probe evidence: the static check still decides
    assert [e.kind for e in r5.evidence] == ["probe", "static"]  # fresh_only: no dynamic
    # H3 has run evidence only: not judged at all rather than passing with no evidence
    assert [i.item.id for i in report.items] == ["R5", "H6"]


def test_a_failing_probe_fails_the_item_and_lists_the_explanation(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = judge(tree, monkeypatch, Outcome.fail("accepted", ["1 call"]), only_items={"R5"})
    [r5] = report.items
    assert not r5.passed
    lines = r5.failure_lines()
    assert lines[0] == "probe:tls_refused: accepted"
    assert any("(explanation, not decisive)" in line for line in lines)
    assert report.to_dict()["items"][0]["evidence"][1]["decisive"] is False


def test_an_unknown_probe_check_is_refused_when_the_checklist_loads(tmp_path: Path) -> None:
    path = tmp_path / "checklist.toml"
    path.write_text(CHECKLIST.replace('check = "tls_refused"', 'check = "tls_refuse"'))
    with pytest.raises(ChecklistError, match="unknown probe check 'tls_refuse'"):
        load_checklist(path)


def test_without_a_probe_section_the_probe_fails_saying_so(tree: Path) -> None:
    checklist = load_checklist(tree / "checklist.toml")
    report = run_gate(
        checklist, "svc", checklist_path=tree / "checklist.toml", repo_root=tree,
        reports_dir=tree / "reports", env={}, commit="abc", tree="t", only_items={"R5"},
        fresh_only=True,
    )  # fmt: skip
    probe = report.items[0].evidence[0]
    assert not probe.outcome.passed
    assert "[targets.svc.probe]" in probe.outcome.observed
