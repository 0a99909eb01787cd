"""``compare.md`` and the self-contained ``compare.html`` (plots inlined as base64)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from harness.compare.metrics import expectation_rows, metric_rows, summary_header, summary_rows
from harness.compare.model import Comparison
from harness.markdown import table
from testbed.results import now_iso


def render_markdown(comparison: Comparison, images: list[Path]) -> str:
    left, right = comparison.left_label, comparison.right_label
    parts = [
        f"# Compare: {comparison.title}",
        "",
        f"Generated {now_iso()} from "
        + ", ".join(
            f"`{r.run_id}` ({r.kind}, TIME_SCALE {r.time_scale:g})" for r in comparison.runs
        )
        + ". Plots and the same tables: `compare.html`.",
        "",
        "## Summary",
        "",
        *table(summary_header(comparison), summary_rows(comparison)),
    ]
    for pair, image in zip(comparison.pairs, images, strict=True):
        parts += [
            "",
            f"## {pair.key}",
            "",
            *table(["metric", left, right, "delta", "ratio"], metric_rows(pair)),
            "",
            *table(["expectation", left, right], expectation_rows(pair)),
            "",
            f"![{pair.key}]({image.name})",
        ]
    return "\n".join(parts) + "\n"


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #c62828; font-weight: bold; }
.expected_fail { color: #b26a00; } .invalid, .unexpected_pass { color: #6a1b9a; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def _html_table(header: list[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            text = html.escape(str(cell))
            word = str(cell).split(":")[0].lower()
            css = f' class="{word}"' if word in {"pass", "fail", "expected_fail", "invalid",
                                                  "unexpected_pass"} else ""  # fmt: skip
            cells.append(f"<td{css}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(comparison: Comparison, images: list[Path]) -> str:
    left, right = comparison.left_label, comparison.right_label
    runs = ", ".join(
        f"<code>{html.escape(r.run_id)}</code> ({html.escape(r.kind)}, TIME_SCALE {r.time_scale:g})"
        for r in comparison.runs
    )
    sections = []
    for pair, image in zip(comparison.pairs, images, strict=True):
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        sections.append(
            f"<h2>{html.escape(pair.key)}</h2>"
            + _html_table(["metric", left, right, "delta", "ratio"], metric_rows(pair))
            + _html_table(["expectation", left, right], expectation_rows(pair))
            + f'<img alt="{html.escape(pair.key)} plots" src="data:image/png;base64,{data}">'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Compare: {html.escape(comparison.title)}</title><style>{CSS}</style></head>"
        f"<body><h1>Compare: {html.escape(comparison.title)}</h1>"
        f"<p>Generated {html.escape(now_iso())} from {runs}. Shaded: fault windows.</p>"
        "<h2>Summary</h2>"
        + _html_table(summary_header(comparison), summary_rows(comparison))
        + "".join(sections)
        + "</body></html>\n"
    )
