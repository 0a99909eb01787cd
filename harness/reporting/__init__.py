"""The human report of any run: ``report.md`` and a self-contained ``report.html``.

Works on any :class:`testbed.results.RunResults` (chaos, load, bench, ablation): a summary
table (target x scenario: verdict and key figures), then per scenario the expectations
observed vs threshold with the targets side by side, and in the HTML the plots (latency
p50/p99 over time with the fault windows shaded, status codes over time), embedded as
base64 PNGs so the file can be mailed or attached to a CI run as is.
"""

from __future__ import annotations

from pathlib import Path

from harness.reporting.figures import VERDICT_MARK, key_figures
from harness.reporting.html_report import render_html
from harness.reporting.markdown_report import render_markdown
from testbed.results import RunResults

__all__ = [
    "REPORT_HTML",
    "REPORT_MD",
    "VERDICT_MARK",
    "key_figures",
    "render_html",
    "render_markdown",
    "write_report",
]

REPORT_MD = "report.md"
REPORT_HTML = "report.html"


def write_report(run: RunResults, run_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``run_dir``; return their paths."""
    run_dir.mkdir(parents=True, exist_ok=True)
    md_path = run_dir / REPORT_MD
    html_path = run_dir / REPORT_HTML
    md_path.write_text(render_markdown(run))
    html_path.write_text(render_html(run))
    return md_path, html_path
