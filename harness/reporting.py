"""The human report of any run: ``report.md`` and a self-contained ``report.html``.

Works on any :class:`testbed.results.RunResults` (chaos, load, bench, ablation): a summary
table (target x scenario: verdict and key figures), then per scenario the expectations
observed vs threshold with the targets side by side, and in the HTML the plots (latency
p50/p99 over time with the fault windows shaded, status codes over time), embedded as
base64 PNGs so the file can be mailed or attached to a CI run as is.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from testbed.results import Expectation, RunResults, ScenarioResult, lost_difference

REPORT_MD = "report.md"
REPORT_HTML = "report.html"

VERDICT_MARK = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "expected_fail": "🟠 expected_fail",
    "unexpected_pass": "🔵 unexpected_pass",
    "invalid": "⚠️ invalid",
}
VERDICT_COLOUR = {
    "pass": "#1a7f37",
    "fail": "#cf222e",
    "expected_fail": "#bc4c00",
    "unexpected_pass": "#0969da",
    "invalid": "#9a6700",
}
STATUS_COLOUR = {"2": "#2da44e", "3": "#8250df", "4": "#d4a72c", "5": "#cf222e", "e": "#6e7781"}
# the 5xx that tell different stories get their own shade (LB timeout vs app vs crash)
CODE_COLOUR = {
    "500": "#82071e",
    "502": "#fa4549",
    "503": "#bf8700",
    "504": "#cf222e",
    "429": "#8250df",
}


def write_report(run: RunResults, run_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``run_dir``; return their paths."""
    run_dir.mkdir(parents=True, exist_ok=True)
    md_path = run_dir / REPORT_MD
    html_path = run_dir / REPORT_HTML
    md_path.write_text(render_markdown(run))
    html_path.write_text(render_html(run))
    return md_path, html_path


# -- shared helpers ------------------------------------------------------------------------


def targets_of(run: RunResults) -> list[str]:
    seen: list[str] = []
    for r in run.results:
        if r.target not in seen:
            seen.append(r.target)
    return seen


def scenario_keys(run: RunResults) -> list[tuple[str, str]]:
    """(scenario, variant) in first-seen order."""
    seen: list[tuple[str, str]] = []
    for r in run.results:
        key = (r.scenario, r.variant)
        if key not in seen:
            seen.append(key)
    return seen


def scenario_label(scenario: str, variant: str) -> str:
    return f"{scenario} [{variant}]" if variant else scenario


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    else:
        text = str(value)
    return f"{text}{unit}" if unit and unit != "" else text


def key_figures(r: ScenarioResult) -> str:
    """One short line of what matters: requests, 5xx, p95, health p95, LLM calls/request."""
    parts = [f"{r.requests_total} req"]
    errors = sum(n for code, n in r.status_counts.items() if code.startswith("5"))
    if errors or r.transport_errors:
        parts.append(
            f"{errors} 5xx" + (f" +{r.transport_errors} err" if r.transport_errors else "")
        )
    if "p95" in r.latency_ms:
        parts.append(f"p95 {fmt(r.latency_ms['p95'])} ms")
    if "p95" in r.health_latency_ms:
        parts.append(f"health p95 {fmt(r.health_latency_ms['p95'])} ms")
    per_request = r.llm_calls.get("per_request") if r.llm_calls else None
    if per_request is not None:
        parts.append(f"LLM {fmt(per_request)}/req")
    return ", ".join(parts)


def expectation_rows(
    run: RunResults, scenario: str, variant: str, targets: Sequence[str]
) -> list[tuple[str, str, str, dict[str, Expectation | None]]]:
    """(name, description, threshold, {target: expectation}) in first-seen order."""
    rows: dict[str, tuple[str, str, dict[str, Expectation | None]]] = {}
    for target in targets:
        r = run.find(target, scenario, variant)
        if r is None:
            continue
        for e in r.expectations:
            if e.name not in rows:
                rows[e.name] = (e.description, f"{e.op} {fmt(e.threshold)}{e.unit}", {})
            rows[e.name][2][target] = e
    return [(name, d, thr, {t: by.get(t) for t in targets}) for name, (d, thr, by) in rows.items()]


def _cell(e: Expectation | None) -> str:
    if e is None:
        return "—"
    mark = "✅" if e.passed else "❌"
    return f"{mark} {fmt(e.observed)}{e.unit if e.observed is not None else ''}"


# -- markdown ------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |"]
    lines.append("| " + " | ".join("---" for _ in header) + " |")
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(run: RunResults) -> str:
    targets = targets_of(run)
    lines = [f"# {run.kind.capitalize()} run `{run.run_id}`", ""]
    overall = "PASSED" if run.passed else "FAILED"
    lines += [
        f"- **Result: {overall}** (fail, invalid and unexpected_pass results fail the run; "
        "legacy's expected failures do not)",
        f"- created {run.created_at}, finished {run.finished_at or '—'}, "
        f"time scale {run.time_scale:g}",
    ]
    if run.command:
        lines.append(f"- command: `{run.command}`")
    env = ", ".join(
        f"{k}={v}" for k, v in run.environment.items() if not isinstance(v, list | dict)
    )
    if env:
        lines.append(f"- environment: {env}")
    for skipped in run.environment.get("skipped", []) or []:
        lines.append(f"- skipped: {skipped.get('scenario')} ({skipped.get('reason')})")
    if run.kind != "ablation":
        lines += [f"- **{lost_difference(r)}**" for r in run.lost_differences()]
    lines += ["", "## Summary", ""]
    header = ["scenario", *[f"{t}" for t in targets]]
    rows = []
    for scenario, variant in scenario_keys(run):
        row = [scenario_label(scenario, variant)]
        for target in targets:
            r = run.find(target, scenario, variant)
            row.append("—" if r is None else f"{VERDICT_MARK[r.verdict]} · {key_figures(r)}")
        rows.append(row)
    lines += _md_table(header, rows)
    for scenario, variant in scenario_keys(run):
        lines += ["", f"## {scenario_label(scenario, variant)}", ""]
        results = [run.find(t, scenario, variant) for t in targets]
        description = next((r.description for r in results if r and r.description), "")
        if description:
            lines += [description, ""]
        lines += _md_table(
            ["expectation", "threshold", *targets],
            [
                [f"`{name}` {desc}", thr, *[_cell(by[t]) for t in targets]]
                for name, desc, thr, by in expectation_rows(run, scenario, variant, targets)
            ],
        )
        lines += ["", *_md_table(["figure", *targets], _figure_rows(results, targets))]
        for target, r in zip(targets, results, strict=True):
            for note in r.notes if r else []:
                lines.append(f"- note ({target}): {note}")
    lines.append("")
    return "\n".join(lines)


def _figure_rows(
    results: Sequence[ScenarioResult | None], targets: Sequence[str]
) -> list[list[str]]:
    def row(label: str, get: Any) -> list[str]:
        return [label, *[("—" if r is None else get(r)) for r in results]]

    def statuses(r: ScenarioResult) -> str:
        text = ", ".join(f"{k}: {v}" for k, v in sorted(r.status_counts.items()))
        return text + (f", errors: {r.transport_errors}" if r.transport_errors else "")

    def lat(summary: dict[str, float]) -> str:
        if not summary.get("count"):
            return "—"
        return " / ".join(fmt(summary.get(q)) for q in ("p50", "p95", "p99", "max")) + " ms"

    def alerts(r: ScenarioResult) -> str:
        return (
            ", ".join(f"{k} {r.alerts.get(k, 0)}" for k in ("P0", "P1", "P2")) if r.alerts else "—"
        )

    def integrity(r: ScenarioResult) -> str:
        return ", ".join(f"{k} {v}" for k, v in r.integrity.items()) if r.integrity else "—"

    def breakers(r: ScenarioResult) -> str:
        return (
            ", ".join(
                f"{t['dependency']} {t['from_state']}→{t['to_state']} x{t['count']}"
                for t in r.breaker_transitions
            )
            or "—"
        )

    del targets
    return [
        row("duration", lambda r: f"{r.duration_s:g} s"),
        row("requests", lambda r: str(r.requests_total)),
        row("status counts", statuses),
        row("latency p50 / p95 / p99 / max", lambda r: lat(r.latency_ms)),
        row("health probe during fault p50 / p95 / p99 / max", lambda r: lat(r.health_latency_ms)),
        row(
            "LLM calls (total, per request)",
            lambda r: (
                f"{r.llm_calls.get('total', '—')}, {fmt(r.llm_calls.get('per_request'))}"
                if r.llm_calls
                else "—"
            ),
        ),
        row("breaker transitions", breakers),
        row("alerts", alerts),
        row("integrity", integrity),
        row("event-loop lag max", lambda r: fmt(r.event_loop_lag_max_s, " s")),
    ]


# -- html ----------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2328;max-width:1400px}
table{border-collapse:collapse;margin:.6rem 0 1.2rem}
th,td{border:1px solid #d0d7de;padding:.3rem .55rem;text-align:left;vertical-align:top}
td{font-size:.9rem}
th{background:#f6f8fa}
.verdict{font-weight:600}
.ok{color:#1a7f37}.ko{color:#cf222e}
.plots{display:flex;flex-wrap:wrap;gap:1rem}
.plots figure{margin:0}
figcaption{font-size:.85rem;color:#57606a}
code{background:#f6f8fa;padding:0 .25rem}
small{color:#57606a}
"""


def render_html(run: RunResults, *, plots: bool = True) -> str:
    targets = targets_of(run)
    e = html.escape
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(run.kind)} run {e(run.run_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(run.kind.capitalize())} run <code>{e(run.run_id)}</code></h1>",
        "<p><b>Result: "
        + ("<span class='ok'>PASSED</span>" if run.passed else "<span class='ko'>FAILED</span>")
        + f"</b> · created {e(run.created_at)} · finished {e(str(run.finished_at or '—'))}"
        f" · time scale {run.time_scale:g}</p>",
    ]
    if run.command:
        out.append(f"<p>command: <code>{e(run.command)}</code></p>")
    for skipped in run.environment.get("skipped", []) or []:
        out.append(
            f"<p>skipped: {e(str(skipped.get('scenario')))} ({e(str(skipped.get('reason')))})</p>"
        )
    out.append("<h2>Summary</h2><table><tr><th>scenario</th>")
    out += [f"<th>{e(t)}</th>" for t in targets]
    out.append("</tr>")
    for scenario, variant in scenario_keys(run):
        out.append(
            f"<tr><td><a href='#{e(scenario)}-{e(variant)}'>"
            f"{e(scenario_label(scenario, variant))}</a></td>"
        )
        for target in targets:
            r = run.find(target, scenario, variant)
            if r is None:
                out.append("<td>—</td>")
                continue
            colour = VERDICT_COLOUR[r.verdict]
            out.append(
                f"<td><span class='verdict' style='color:{colour}'>{e(r.verdict)}</span>"
                f"<br><small>{e(key_figures(r))}</small></td>"
            )
        out.append("</tr>")
    out.append("</table>")
    for scenario, variant in scenario_keys(run):
        results = [run.find(t, scenario, variant) for t in targets]
        out.append(
            f"<h2 id='{e(scenario)}-{e(variant)}'>{e(scenario_label(scenario, variant))}</h2>"
        )
        description = next((r.description for r in results if r and r.description), "")
        if description:
            out.append(f"<p>{e(description)}</p>")
        out.append("<table><tr><th>expectation</th><th>threshold</th>")
        out += [f"<th>{e(t)}</th>" for t in targets]
        out.append("</tr>")
        for name, desc, thr, by in expectation_rows(run, scenario, variant, targets):
            out.append(
                f"<tr><td><code>{e(name)}</code><br><small>{e(desc)}</small></td><td>{e(thr)}</td>"
            )
            for t in targets:
                ex = by[t]
                cls = "" if ex is None else ("ok" if ex.passed else "ko")
                out.append(f"<td class='{cls}'>{e(_cell(ex))}</td>")
            out.append("</tr>")
        out.append("</table><table><tr><th>figure</th>")
        out += [f"<th>{e(t)}</th>" for t in targets]
        out.append("</tr>")
        for row in _figure_rows(results, targets):
            out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
        out.append("</table>")
        if plots:
            present = [r for r in results if r is not None and r.series.get("t_s")]
            if present:
                png = plot_scenario(present)
                out.append(
                    "<div class='plots'><figure>"
                    f"<img alt='latency and status codes over time, {e(scenario)}' "
                    f"src='data:image/png;base64,{png}'>"
                    "<figcaption>per second: latency p50/p99 (log scale, fault windows shaded) and "
                    "responses by status code; targets side by side</figcaption></figure></div>"
                )
        for target, r in zip(targets, results, strict=True):
            for note in r.notes if r else []:
                out.append(f"<p><small>note ({e(target)}): {e(note)}</small></p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def plot_scenario(results: Sequence[ScenarioResult]) -> str:
    """Latency (top) and status codes (bottom) over time, one column per target; base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")  # headless, no display; must precede pyplot
    import matplotlib.pyplot as plt

    columns = len(results)
    fig, axes = plt.subplots(
        2, columns, figsize=(5.5 * columns, 5.5), squeeze=False, sharex="col", sharey="row"
    )
    try:
        for col, r in enumerate(results):
            series = r.series
            t = series.get("t_s", [])
            lat_ax, st_ax = axes[0][col], axes[1][col]
            for key, label, style in (("p50_ms", "p50", "-"), ("p99_ms", "p99", "--")):
                values = [math.nan if v is None else v for v in series.get(key, [])]
                if values:
                    lat_ax.plot(t[: len(values)], values, style, label=label)
            health = r.extra.get("health_series", {}) if r.extra else {}
            if health.get("t_s") and health.get("p99_ms"):
                hv = [math.nan if v is None else v for v in health["p99_ms"]]
                lat_ax.plot(health["t_s"][: len(hv)], hv, ":", label="health p99")
            lat_ax.set_yscale("log")
            lat_ax.set_title(f"{r.target} · {r.verdict}", color=VERDICT_COLOUR[r.verdict])
            lat_ax.set_ylabel("latency (ms)")
            lat_ax.legend(loc="upper left", fontsize=7)
            bottom = [0] * len(t)
            for code in sorted(series.get("status", {})):
                counts = series["status"][code][: len(t)]
                colour = CODE_COLOUR.get(code, STATUS_COLOUR.get(code[0], "#6e7781"))
                st_ax.bar(
                    t[: len(counts)],
                    counts,
                    bottom=bottom[: len(counts)],
                    width=series.get("bucket_s", 1.0) * 0.9,
                    align="edge",
                    label=code,
                    color=colour,
                    alpha=0.85,
                )
                bottom = [b + c for b, c in zip(bottom, counts, strict=False)] + bottom[
                    len(counts) :
                ]
            st_ax.set_ylabel("responses / bucket")
            st_ax.set_xlabel("seconds since scenario start")
            if series.get("status"):
                st_ax.legend(loc="upper left", fontsize=7, ncol=3)
            for ax in (lat_ax, st_ax):
                for w in r.fault_windows:
                    ax.axvspan(w.get("start_s", 0), w.get("end_s", 0), color="#cf222e", alpha=0.1)
            for w in r.fault_windows:
                lat_ax.annotate(
                    str(w.get("label", "")),
                    (w.get("start_s", 0), 1.0),
                    xycoords=("data", "axes fraction"),
                    fontsize=7,
                    va="top",
                    color="#cf222e",
                )
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
