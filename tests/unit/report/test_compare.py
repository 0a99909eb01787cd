"""compare.md and compare.html from synthetic runs: pairs, deltas, inline plots, clear errors."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from matplotlib import image as mpimg
from typer.testing import CliRunner

from harness.cli import app
from harness.compare import CompareError, build_comparison, compare_runs, metric_rows
from testbed.results import ResultsError
from tests.unit.report.synthetic import both, run, scenario, write

pytestmark = pytest.mark.unit


def test_one_run_pairs_legacy_with_refactored(tmp_path: Path) -> None:
    comparison = build_comparison(run("chaos", both("llm_latency") + both("llm_down")), None)
    assert [p.key for p in comparison.pairs] == ["llm_latency", "llm_down"]
    assert (comparison.left_label, comparison.right_label) == ("legacy", "refactored")
    rows = {row[0]: row[1:] for row in metric_rows(comparison.pairs[0])}
    assert rows["504"] == ("27", "0", "-27", "0x")
    assert rows["latency p99 ms"] == ("6,000", "120", "-5,880", "0.02x")
    assert rows["LLM calls / request"] == ("3", "1.5", "-1.5", "0.5x")


def test_two_runs_pair_what_both_measured(tmp_path: Path) -> None:
    a = run("chaos", both("llm_latency"), run_id="A")
    b = run("chaos", [scenario("refactored", "llm_latency", slow=True)], run_id="B")
    comparison = build_comparison(a, b)
    assert [p.key for p in comparison.pairs] == ["refactored/llm_latency"]
    assert comparison.left_label == "A A" and comparison.right_label == "B B"


def test_runs_with_nothing_in_common_say_what_each_has() -> None:
    a = run("chaos", both("llm_latency"), run_id="A")
    b = run("load", both("three_am", kind="load"), run_id="B")
    with pytest.raises(CompareError, match=r"A has legacy/llm_latency, refactored/llm_latency"):
        build_comparison(a, b)


def test_a_single_target_run_explains_what_to_do() -> None:
    only = run("chaos", [scenario("refactored", "llm_down")], run_id="R")
    with pytest.raises(CompareError, match=r"targets: refactored\); run with TARGET=both"):
        build_comparison(only, None)


def test_missing_results_are_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="run `make chaos` or `make load` first"):
        compare_runs(tmp_path / "nope", None, tmp_path / "out")


def test_outputs_are_self_contained_with_real_plots(tmp_path: Path) -> None:
    md, page = compare_runs(run("chaos", both("llm_latency")), None, tmp_path / "out")
    text = md.read_text()
    assert "| llm_latency | expected_fail | pass | 6,000 | 120 | 27 | 0 |" in text
    assert "| p99_latency_ms | FAIL: 6000ms (< 5000ms) | pass: 120ms (< 5000ms) |" in text
    assert "![llm_latency](compare-llm_latency.png)" in text
    content = page.read_text()
    # self-contained: no external resource, the plot is inline
    assert not re.search(r"""(src|href)=["'](?!data:)""", content)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', content)
    assert len(images) == 1
    png = tmp_path / "inline.png"
    png.write_bytes(base64.b64decode(images[0]))
    pixels = mpimg.imread(png)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 500
    assert float(pixels[..., :3].std()) > 0.05  # not a blank canvas


def test_results_without_series_still_render(tmp_path: Path) -> None:
    bare = both("db_down")
    for result in bare:
        result.series = {}
        result.fault_windows = []
    md, page = compare_runs(run("chaos", bare), None, tmp_path / "out")
    assert "db_down" in md.read_text()
    assert "data:image/png;base64," in page.read_text()


def test_compare_command_defaults_to_latest_and_reports_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    monkeypatch.setenv("REPORTS_DIR", str(reports))
    result = CliRunner().invoke(app, ["compare"])
    assert result.exit_code == 2
    assert "no results.json in" in result.output and "make chaos" in result.output
    run_dir = write(reports, run("chaos", both("llm_latency")))
    result = CliRunner().invoke(app, ["compare"])
    assert result.exit_code == 0, result.output
    assert (run_dir / "compare" / "compare.html").exists()
    assert (run_dir / "compare" / "compare.md").exists()


def test_compare_command_with_two_runs_writes_under_reports_compare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    monkeypatch.setenv("REPORTS_DIR", str(reports))
    a = write(reports, run("chaos", both("llm_latency"), run_id="run-a"))
    b = write(reports, run("chaos", both("llm_latency"), run_id="run-b"))
    result = CliRunner().invoke(app, ["compare", "--a", str(a), "--b", str(b / "results.json")])
    assert result.exit_code == 0, result.output
    out = reports / "compare" / "run-a_vs_run-b"
    text = (out / "compare.md").read_text()
    assert "# Compare: run-a vs run-b" in text
    assert "## legacy/llm_latency" in text and "## refactored/llm_latency" in text
