"""``report.md``: the summary table (target x scenario), then per scenario its expectations
and figures with the targets side by side (tables by :mod:`harness.markdown`)."""

from __future__ import annotations

from harness.markdown import Markdown, code, plain, table
from harness.reporting.figures import (
    VERDICT_MARK,
    expectation_cell,
    expectation_rows,
    figure_rows,
    key_figures,
    scenario_keys,
    scenario_label,
    targets_of,
)
from testbed.results import RunResults, lost_difference


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
    lines += table(header, rows)
    for scenario, variant in scenario_keys(run):
        lines += ["", f"## {scenario_label(scenario, variant)}", ""]
        results = [run.find(t, scenario, variant) for t in targets]
        description = next((r.description for r in results if r and r.description), "")
        if description:
            lines += [description, ""]
        lines += table(
            ["expectation", "threshold", *targets],
            [
                [
                    Markdown(f"{code(name)} {plain(desc)}"),
                    thr,
                    *[expectation_cell(by[t]) for t in targets],
                ]
                for name, desc, thr, by in expectation_rows(run, scenario, variant, targets)
            ],
        )
        lines += ["", *table(["figure", *targets], figure_rows(results, targets))]
        for target, r in zip(targets, results, strict=True):
            for note in r.notes if r else []:
                lines.append(f"- note ({target}): {note}")
    lines.append("")
    return "\n".join(lines)
