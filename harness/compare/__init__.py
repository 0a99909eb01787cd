"""Compare runs side by side: ``compare.md`` and a self-contained ``compare.html``.

With one run, each scenario's legacy result is put beside its refactored result;
with two runs, each (target, scenario, variant) measured by both is put side by
side (run A vs run B). Every pair gets a table of metrics with deltas and ratios,
its expectations, and one PNG (matplotlib, Agg) inlined as base64 into the HTML:
latency percentiles over time with the fault windows shaded, throughput, status
codes over time, 504s, LLM calls per request and event-loop lag.
"""

from __future__ import annotations

from pathlib import Path

from harness.compare.metrics import metric_rows
from harness.compare.model import CompareError, Comparison, Pair, build_comparison
from harness.compare.plots import plot_pair
from harness.compare.render import render_html, render_markdown
from harness.compare.screenshot import find_browser, screenshot
from testbed.results import RunResults

__all__ = [
    "CompareError",
    "Comparison",
    "Pair",
    "build_comparison",
    "compare_runs",
    "find_browser",
    "metric_rows",
    "screenshot",
]


def compare_runs(
    a: Path | RunResults, b: Path | RunResults | None, out_dir: Path
) -> tuple[Path, Path]:
    """Write ``compare.md``, ``compare.html`` and one PNG per pair into ``out_dir``."""
    comparison = build_comparison(a, b)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = []
    for pair in comparison.pairs:
        name = "compare-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in pair.key)
        images.append(
            plot_pair(pair, comparison.left_label, comparison.right_label, out_dir / f"{name}.png")
        )
    md = out_dir / "compare.md"
    md.write_text(render_markdown(comparison, images))
    page = out_dir / "compare.html"
    page.write_text(render_html(comparison, images))
    return md, page
