"""``report.html``: the same tables as ``report.md``, verdicts coloured, and per scenario the
plots (``plots``) embedded as base64 PNGs, so the file can be mailed or attached as is."""

from __future__ import annotations

import html

from harness.reporting.figures import (
    VERDICT_COLOUR,
    expectation_cell,
    expectation_rows,
    figure_rows,
    key_figures,
    scenario_keys,
    scenario_label,
    targets_of,
)
from harness.reporting.plots import plot_scenario
from testbed.results import RunResults

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
                out.append(f"<td class='{cls}'>{e(expectation_cell(ex))}</td>")
            out.append("</tr>")
        out.append("</table><table><tr><th>figure</th>")
        out += [f"<th>{e(t)}</th>" for t in targets]
        out.append("</tr>")
        for row in figure_rows(results, targets):
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
