"""The checklist file: the shipped one is valid, and every malformed file gets a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checklist import ChecklistError, DynamicEvidence, load_checklist

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]

TARGETS = """
[targets.svc]
package = "svc"
app_factory = "svc.main:create_app"
"""


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "checklist.toml"
    path.write_text(body)
    return path


def _item(evidence: str, item_id: str = "R9") -> str:
    return f"""
[[items]]
id = "{item_id}"
title = "t"
why = "because"
evidence = [{evidence}]
"""


def test_the_shipped_checklist_has_the_seed_ids_and_both_targets() -> None:
    checklist = load_checklist(REPO / "resilience-checklist.toml")
    ids = [item.id for item in checklist.items]
    assert ids[:5] == ["R1", "R2", "R3", "R4", "R5"]
    assert len(ids) >= 12
    assert set(checklist.targets) == {"legacy", "refactored"}
    assert all(item.why for item in checklist.items)


def test_a_valid_file_parses_every_evidence_kind(tmp_path: Path) -> None:
    body = TARGETS + _item(
        '{ kind = "static", check = "tls_verified" }, { kind = "config", check = "pool_budget" },'
        ' { kind = "dynamic", run = "chaos", scenario = "llm_down", expectations = ["a", "b"] }'
    )
    checklist = load_checklist(_write(tmp_path, body))
    evidence = checklist.items[0].evidence
    assert [e.kind for e in evidence] == ["static", "config", "dynamic"]
    assert isinstance(evidence[2], DynamicEvidence)
    assert evidence[2].expectations == ["a", "b"]
    assert checklist.deployment.lb_timeout_s == 60.0


def test_missing_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(ChecklistError, match=r"cannot read checklist .*nope\.toml"):
        load_checklist(tmp_path / "nope.toml")


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[[items]\nid = 1")
    with pytest.raises(ChecklistError, match=r"checklist\.toml: not valid TOML: .*line 1"):
        load_checklist(path)


def test_missing_field_names_the_item(tmp_path: Path) -> None:
    evidence = 'evidence = [{ kind = "static", check = "tls_verified" }]\n'
    body = TARGETS + '[[items]]\nid = "R7"\ntitle = "t"\n' + evidence
    with pytest.raises(ChecklistError) as info:
        load_checklist(_write(tmp_path, body))
    message = str(info.value)
    assert "checklist.toml" in message
    assert "items[0] (id 'R7').why: Field required" in message


def test_unknown_evidence_kind_is_rejected(tmp_path: Path) -> None:
    body = TARGETS + _item('{ kind = "vibes", check = "x" }')
    with pytest.raises(ChecklistError, match=r"items\[0\] \(id 'R9'\)\.evidence\[0\].*'vibes'"):
        load_checklist(_write(tmp_path, body))


def test_unknown_static_check_lists_the_known_ones(tmp_path: Path) -> None:
    body = TARGETS + _item('{ kind = "static", check = "vibes_ok" }')
    with pytest.raises(ChecklistError) as info:
        load_checklist(_write(tmp_path, body))
    assert "unknown static check 'vibes_ok'; known: async_rules," in str(info.value)
    assert "evidence[0].check" in str(info.value)


def test_unknown_config_check_and_misspelt_field_are_rejected(tmp_path: Path) -> None:
    body = (
        TARGETS
        + _item('{ kind = "config", check = "pool_budgt" }')
        + _item('{ kind = "dynamic", run = "chaos", senario = "x" }', "R8")
    )
    with pytest.raises(ChecklistError) as info:
        load_checklist(_write(tmp_path, body))
    message = str(info.value)
    assert "unknown config check 'pool_budgt'" in message
    assert "(id 'R8')" in message and "senario: Extra inputs are not permitted" in message


def test_dynamic_evidence_needs_a_run_kind_and_names(tmp_path: Path) -> None:
    body = TARGETS + _item('{ kind = "dynamic", run = "bench", scenario = "x", expectations = [] }')
    with pytest.raises(ChecklistError) as info:
        load_checklist(_write(tmp_path, body))
    assert "run: Input should be 'chaos' or 'load'" in str(info.value)
    assert 'name at least one expectation, or "all"' in str(info.value)


def test_duplicate_ids_and_empty_evidence_are_rejected(tmp_path: Path) -> None:
    body = TARGETS + _item('{ kind = "static", check = "tls_verified" }', "R1") * 2
    with pytest.raises(ChecklistError, match="item id 'R1' appears twice"):
        load_checklist(_write(tmp_path, body))
    body = TARGETS + '[[items]]\nid = "R1"\ntitle = "t"\nwhy = "w"\nevidence = []\n'
    with pytest.raises(ChecklistError, match="evidence: List should have at least 1 item"):
        load_checklist(_write(tmp_path, body))


def test_unknown_target_lists_the_known_ones(tmp_path: Path) -> None:
    body = TARGETS + _item('{ kind = "static", check = "tls_verified" }')
    checklist = load_checklist(_write(tmp_path, body))
    with pytest.raises(ChecklistError, match="unknown target 'prod'; the checklist knows: svc"):
        checklist.target("prod")


def _string_constants(*files: Path) -> set[str]:
    import ast

    found: set[str] = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def test_the_shipped_checklist_names_expectations_the_scenarios_evaluate() -> None:
    """A renamed expectation breaks here, in the unit tests, not at the next deploy gate."""
    from loadtests.scenarios import SCENARIOS

    checklist = load_checklist(REPO / "resilience-checklist.toml")
    scenarios_dir = REPO / "chaos" / "scenarios"
    for item in checklist.items:
        for evidence in item.evidence:
            if not isinstance(evidence, DynamicEvidence) or evidence.expectations == "all":
                continue
            if evidence.run == "chaos":
                names = _string_constants(
                    scenarios_dir / f"{evidence.scenario}.py", scenarios_dir / "checks.py"
                )
            else:
                names = {t.name for t in SCENARIOS[evidence.scenario].thresholds}
            missing = [n for n in evidence.expectations if n not in names]
            assert not missing, f"{item.id}: {evidence.scenario} has no expectation {missing}"


def test_h3_needs_the_waits_to_honour_retry_after() -> None:
    """Few calls and 2xx answers are also what code that ignores Retry-After can show:
    H3 must cite the expectation that measures the wait against the Retry-After sent."""
    checklist = load_checklist(REPO / "resilience-checklist.toml")
    h3 = next(item for item in checklist.items if item.id == "H3")
    cited = {
        name
        for evidence in h3.evidence
        if isinstance(evidence, DynamicEvidence) and evidence.scenario == "llm_429_transient"
        for name in evidence.expectations
    }
    assert "retry_waits_honour_retry_after" in cited
