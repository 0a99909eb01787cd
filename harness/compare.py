"""Compare runs side by side: ``compare.md`` and a self-contained ``compare.html``.

With one run, each scenario's legacy result is put beside its refactored result;
with two runs, each (target, scenario, variant) measured by both is put side by
side (run A vs run B). Every pair gets a table of metrics with deltas and ratios,
its expectations, and one PNG (matplotlib, Agg) inlined as base64 into the HTML:
latency percentiles over time with the fault windows shaded, throughput, status
codes over time, 504s, LLM calls per request and event-loop lag.
"""

from __future__ import annotations

import base64
import html
import math
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: CI machines and headless servers
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from testbed.results import RunResults, ScenarioResult, load_results, now_iso

LEFT_COLOUR, RIGHT_COLOUR = "#d62728", "#1f77b4"
# one colour per status code a run shows; classes as a fallback
STATUS_COLOURS = {
    "200": "#2ca02c", "201": "#98df8a", "404": "#c5b0d5", "413": "#9467bd", "422": "#8c564b",
    "429": "#ff7f0e", "500": "#7b0000", "502": "#e377c2", "503": "#bcbd22", "504": "#d62728",
    "error": "#7f7f7f",
}  # fmt: skip
CLASS_COLOURS = {"2": "#2ca02c", "4": "#ff7f0e", "5": "#d62728"}


class CompareError(ValueError):
    """The runs cannot be compared (nothing in common, a single target...)."""


@dataclass
class Pair:
    key: str  # "llm_latency" or "legacy/llm_latency"
    left: ScenarioResult
    right: ScenarioResult


@dataclass
class Comparison:
    title: str
    left_label: str
    right_label: str
    pairs: list[Pair]
    runs: list[RunResults]


def _load(run: Path | RunResults) -> RunResults:
    return run if isinstance(run, RunResults) else load_results(Path(run))


def build_comparison(a: Path | RunResults, b: Path | RunResults | None) -> Comparison:
    run_a = _load(a)
    if b is None:
        return _legacy_vs_refactored(run_a)
    run_b = _load(b)
    keys_a = {(r.target, r.scenario, r.variant): r for r in run_a.results}
    pairs = []
    for r in run_b.results:
        left = keys_a.get((r.target, r.scenario, r.variant))
        if left is not None:
            name = "/".join(p for p in (r.target, r.scenario, r.variant) if p)
            pairs.append(Pair(name, left, r))
    if not pairs:
        raise CompareError(
            f"runs {run_a.run_id} and {run_b.run_id} measured nothing in common: "
            f"A has {_scenarios(run_a)}, B has {_scenarios(run_b)}"
        )
    return Comparison(
        f"{run_a.run_id} vs {run_b.run_id}",
        f"A {run_a.run_id}",
        f"B {run_b.run_id}",
        pairs,
        [run_a, run_b],
    )


def _legacy_vs_refactored(run: RunResults) -> Comparison:
    by_key = {(r.target, r.scenario, r.variant): r for r in run.results}
    pairs = []
    for (target, scenario, variant), left in by_key.items():
        if target != "legacy":
            continue
        right = by_key.get(("refactored", scenario, variant))
        if right is not None:
            pairs.append(Pair("/".join(p for p in (scenario, variant) if p), left, right))
    if not pairs:
        targets = sorted({r.target for r in run.results}) or ["none"]
        raise CompareError(
            f"run {run.run_id} has no scenario measured on both legacy and refactored "
            f"(targets: {', '.join(targets)}); run with TARGET=both, or pass --b to compare "
            "two runs"
        )
    return Comparison(f"legacy vs refactored: {run.run_id}", "legacy", "refactored", pairs, [run])


def _scenarios(run: RunResults) -> str:
    names = sorted({f"{r.target}/{r.scenario}" for r in run.results})
    return ", ".join(names) or "no results"


# ---- metrics -------------------------------------------------------------------------------


def _status(result: ScenarioResult, prefix: str) -> int:
    return sum(n for code, n in result.status_counts.items() if code.startswith(prefix))


METRICS: list[tuple[str, Any]] = [
    ("requests", lambda r: r.requests_total),
    ("2xx", lambda r: _status(r, "2")),
    ("429", lambda r: r.status_counts.get("429", 0)),
    ("503", lambda r: r.status_counts.get("503", 0)),
    ("504", lambda r: r.status_counts.get("504", 0)),
    ("5xx (all)", lambda r: _status(r, "5")),
    ("transport errors", lambda r: r.transport_errors),
    ("latency p50 ms", lambda r: r.latency_ms.get("p50")),
    ("latency p95 ms", lambda r: r.latency_ms.get("p95")),
    ("latency p99 ms", lambda r: r.latency_ms.get("p99")),
    ("latency max ms", lambda r: r.latency_ms.get("max")),
    ("health p99 ms", lambda r: r.health_latency_ms.get("p99")),
    ("LLM calls", lambda r: r.llm_calls.get("total")),
    ("LLM calls / request", lambda r: r.llm_calls.get("per_request")),
    ("event-loop lag max s", lambda r: r.event_loop_lag_max_s),
    ("breaker transitions", lambda r: sum(int(t.get("count", 1)) for t in r.breaker_transitions)),
    ("alerts P0", lambda r: r.alerts.get("P0")),
    ("alerts P1", lambda r: r.alerts.get("P1")),
    ("alerts P2", lambda r: r.alerts.get("P2")),
    ("lost updates", lambda r: r.integrity.get("lost_updates")),
    ("events lost", lambda r: _events_lost(r)),
]


def _events_lost(result: ScenarioResult) -> int | None:
    expected = result.integrity.get("events_expected")
    delivered = result.integrity.get("events_delivered")
    if expected is None or delivered is None:
        return None
    return int(expected) - int(delivered)


def metric_rows(pair: Pair) -> list[tuple[str, str, str, str, str]]:
    """(metric, left, right, delta, ratio) for every metric either side measured."""
    rows = []
    for name, get in METRICS:
        left, right = get(pair.left), get(pair.right)
        if left is None and right is None:
            continue
        rows.append((name, _fmt(left), _fmt(right), _delta(left, right), _ratio(left, right)))
    return rows


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{int(value):,}"


def _delta(left: float | None, right: float | None) -> str:
    if left is None or right is None:
        return "-"
    diff = float(right) - float(left)
    return ("+" if diff > 0 else "") + _fmt(diff) if diff else "0"


def _ratio(left: float | None, right: float | None) -> str:
    if left is None or right is None or not float(left):
        return "-"
    return f"{float(right) / float(left):.2g}x"


def expectation_rows(pair: Pair) -> list[tuple[str, str, str]]:
    """(expectation, left, right): observed value and pass/FAIL on each side."""
    names: list[str] = []
    for result in (pair.left, pair.right):
        names += [e.name for e in result.expectations if e.name not in names]

    def cell(result: ScenarioResult, name: str) -> str:
        found = next((e for e in result.expectations if e.name == name), None)
        if found is None:
            return "-"
        observed = "missing" if found.observed is None else f"{found.observed:g}{found.unit}"
        verdict = "pass" if found.passed else "FAIL"
        return f"{verdict}: {observed} ({found.op} {found.threshold:g}{found.unit})"

    return [(name, cell(pair.left, name), cell(pair.right, name)) for name in names]


# ---- plots ---------------------------------------------------------------------------------


def plot_pair(pair: Pair, left_label: str, right_label: str, path: Path) -> Path:
    fig, axes = plt.subplots(4, 2, figsize=(12, 13), dpi=80)
    sides = [(pair.left, left_label, LEFT_COLOUR), (pair.right, right_label, RIGHT_COLOUR)]
    _latency(axes[0][0], sides)
    _throughput(axes[0][1], sides)
    for ax, (result, label, _) in zip(axes[1], sides, strict=True):
        _status_codes(ax, result, label)
    _code_over_time(axes[2][0], sides, "504")
    _code_over_time(axes[2][1], sides, "429")
    _bars(axes[3][0], sides, "LLM calls per request", lambda r: r.llm_calls.get("per_request"))
    _bars(axes[3][1], sides, "event-loop lag max (s)", lambda r: r.event_loop_lag_max_s)
    for ax in [*axes[0], *axes[1], *axes[2]]:
        # each side's own windows: the same schedule can land at slightly different times
        _shade_faults(ax, pair.left.fault_windows)
        if pair.right.fault_windows != pair.left.fault_windows:
            _shade_faults(ax, pair.right.fault_windows)

    windows = pair.right.fault_windows or pair.left.fault_windows
    shaded = ", ".join(str(w.get("label", "")) for w in windows)
    fig.suptitle(
        f"{pair.key}: {left_label} vs {right_label}"
        + (f"  (shaded: fault window {shaded})" if windows else ""),
        fontsize=13,
    )
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


Side = tuple[ScenarioResult, str, str]


def _series(result: ScenarioResult, key: str) -> tuple[list[float], list[float]]:
    t = result.series.get("t_s") or []
    values = result.series.get(key) or []
    points = [(x, y) for x, y in zip(t, values, strict=False) if y is not None]
    return [p[0] for p in points], [float(p[1]) for p in points]


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} recorded", ha="center", va="center", transform=ax.transAxes)


def _latency(ax: Axes, sides: list[Side]) -> None:
    drawn = False
    for result, label, colour in sides:
        for key, style in (("p50_ms", ":"), ("p95_ms", "--"), ("p99_ms", "-")):
            t, y = _series(result, key)
            if t:
                drawn = True
                ax.plot(t, y, style, color=colour, label=f"{label} {key[:3]}")
    ax.set_title("latency percentiles over time (ms)")
    ax.set_xlabel("seconds since scenario start")
    if drawn:
        ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=2)
    else:
        _no_data(ax, "latency series")


def _throughput(ax: Axes, sides: list[Side]) -> None:
    drawn = False
    for result, label, colour in sides:
        t, y = _series(result, "rps")
        if t:
            drawn = True
            ax.plot(t, y, color=colour, label=label)
    ax.set_title("throughput (requests started / s)")
    ax.set_xlabel("seconds since scenario start")
    if drawn:
        ax.legend(fontsize=8)
    else:
        _no_data(ax, "throughput series")


def _status_codes(ax: Axes, result: ScenarioResult, label: str) -> None:
    t = result.series.get("t_s") or []
    status: dict[str, list[int]] = result.series.get("status") or {}
    ax.set_title(f"status codes over time: {label}")
    ax.set_xlabel("seconds since scenario start")
    if not t or not status:
        _no_data(ax, "status series")
        return
    codes = sorted(status)
    colours = [STATUS_COLOURS.get(c, CLASS_COLOURS.get(c[0], "#17becf")) for c in codes]
    ax.stackplot(t, *[status[c][: len(t)] for c in codes], labels=codes, colors=colours, alpha=0.8)
    ax.legend(fontsize=8, loc="upper right")


def _code_over_time(ax: Axes, sides: list[Side], code: str) -> None:
    drawn = False
    for result, label, colour in sides:
        t = result.series.get("t_s") or []
        values = (result.series.get("status") or {}).get(code)
        if t:
            drawn = True
            ax.plot(t, values[: len(t)] if values else [0] * len(t), color=colour, label=label)
    ax.set_title(f"{code}s per second")
    ax.set_xlabel("seconds since scenario start")
    if drawn:
        ax.legend(fontsize=8)
    else:
        _no_data(ax, f"{code} series")


def _bars(ax: Axes, sides: list[Side], title: str, get: Any) -> None:
    labels = [label for _, label, _ in sides]
    values = [get(result) for result, _, _ in sides]
    ax.set_title(title)
    if all(v is None for v in values):
        _no_data(ax, title)
        return
    numbers = [float(v) if v is not None else 0.0 for v in values]
    bars = ax.bar(labels, numbers, color=[colour for _, _, colour in sides])
    ax.bar_label(bars, labels=[_fmt(v) if v is not None else "not measured" for v in values])


def _shade_faults(ax: Axes, windows: list[dict[str, Any]]) -> None:
    for i, window in enumerate(windows):
        label = f"fault: {window.get('label', '')}" if i == 0 else None
        ax.axvspan(window["start_s"], window["end_s"], color="#ffbf00", alpha=0.14, label=label)


# ---- output --------------------------------------------------------------------------------


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


def _summary_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for pair in comparison.pairs:
        left, right = pair.left, pair.right
        rows.append([
            pair.key,
            left.verdict, right.verdict,
            _fmt(left.latency_ms.get("p99")), _fmt(right.latency_ms.get("p99")),
            _fmt(left.status_counts.get("504", 0)), _fmt(right.status_counts.get("504", 0)),
        ])  # fmt: skip
    return rows


def _summary_header(comparison: Comparison) -> list[str]:
    left, right = comparison.left_label, comparison.right_label
    return ["scenario", f"{left} verdict", f"{right} verdict", f"{left} p99 ms",
            f"{right} p99 ms", f"{left} 504s", f"{right} 504s"]  # fmt: skip


def _md_table(header: list[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


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
        _md_table(_summary_header(comparison), _summary_rows(comparison)),
    ]
    for pair, image in zip(comparison.pairs, images, strict=True):
        parts += [
            "",
            f"## {pair.key}",
            "",
            _md_table(["metric", left, right, "delta", "ratio"], metric_rows(pair)),
            "",
            _md_table(["expectation", left, right], expectation_rows(pair)),
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
        + _html_table(_summary_header(comparison), _summary_rows(comparison))
        + "".join(sections)
        + "</body></html>\n"
    )


# ---- screenshot ----------------------------------------------------------------------------

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def screenshot(page: Path, png: Path, *, width: int = 1280, height: int = 2400) -> Path:
    """Render ``page`` in headless Chromium and save a PNG (how a reader will see the report)."""
    browser = find_browser()
    if browser is None:
        raise CompareError(
            "no Chromium on PATH: install it (make setup-browser, or apt-get install chromium)"
        )
    with tempfile.TemporaryDirectory(prefix="compare-chromium-") as profile:
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={width},{height}",
            f"--screenshot={png.resolve()}", page.resolve().as_uri(),
        ]  # fmt: skip
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired as exc:
            raise CompareError(f"{browser} took over 120 s to render {page}") from exc
    if proc.returncode != 0 or not png.exists():
        raise CompareError(f"{browser} could not render {page}: {proc.stderr.strip()[-500:]}")
    return png
