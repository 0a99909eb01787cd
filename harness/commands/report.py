"""``compare`` and ``gate``: read the runs' results.json, compare them, gate a deploy on them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.checklist import DEFAULT_CHECKLIST, ChecklistError, load_checklist
from testbed.results import LATEST_LINK, ResultsError
from testbed.run_dirs import reports_dir

EXIT_FAILED = 1  # the gate ran and an item failed
EXIT_USAGE = 2  # bad input: checklist, target, results path


def compare(
    a: Annotated[
        Path | None, typer.Option("--a", help="run dir or results.json (default: reports/latest)")
    ] = None,
    b: Annotated[
        Path | None,
        typer.Option("--b", help="second run; without it: legacy vs refactored of run A"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="output dir (default: <run A>/compare)")
    ] = None,
    shot: Annotated[
        bool, typer.Option("--screenshot", help="also render compare.html with headless Chromium")
    ] = False,
) -> None:
    """Compare legacy vs refactored of one run, or any two runs: compare.md + compare.html."""
    from harness.compare import CompareError, compare_runs, screenshot

    console = Console()
    run_a = a or reports_dir() / LATEST_LINK
    out_dir = out or _default_out(run_a, b)
    try:
        md, html = compare_runs(run_a, b, out_dir)
        console.print(f"wrote {md}\nwrote {html}")
        if shot:
            console.print(f"wrote {screenshot(html, out_dir / 'compare-screenshot.png')}")
    except (ResultsError, CompareError) as exc:
        console.print(f"compare: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc


def _default_out(a: Path, b: Path | None) -> Path:
    base = a.resolve() if a.exists() else a
    base = base.parent if base.is_file() else base
    if b is None:
        return base / "compare"
    other = b.resolve()
    other = other.parent if other.is_file() else other
    return reports_dir() / "compare" / f"{base.name}_vs_{other.name}"


def gate(
    target: Annotated[
        str, typer.Option("--target", help="which service to gate: refactored or legacy")
    ] = "refactored",
    checklist: Annotated[
        Path, typer.Option("--checklist", help="the checklist file")
    ] = DEFAULT_CHECKLIST,
    max_age_hours: Annotated[
        float, typer.Option("--max-age-hours", help="older run results are stale", min=0)
    ] = 24.0,
    out: Annotated[
        Path | None, typer.Option("--out", help="output dir (default: reports/gate)")
    ] = None,
    expect_failures: Annotated[
        str | None,
        typer.Option(
            "--expect-failures",
            help="item ids (comma-separated) the target must fail, and no other: e.g. legacy",
        ),
    ] = None,
) -> None:
    """The deploy gate: the resilience checklist against the code, settings and latest runs.

    Exits 1 when an item fails (and names it), 2 when the checklist or target is invalid.
    With --expect-failures, exits 0 only when exactly those items fail, each on evidence
    (stale or missing results are not the expected failure), else 1 naming each mismatch.
    Writes <out>/<target>-junit.xml and <out>/<target>-verdict.json.
    """
    from harness.gate import expected_failure_problems, run_gate
    from harness.gate_report import render, write_outputs

    console = Console(width=160)
    try:
        parsed = load_checklist(checklist)
        parsed.target(target)
    except ChecklistError as exc:
        console.print(str(exc), markup=False, highlight=False, style="red")
        raise typer.Exit(EXIT_USAGE) from exc
    report = run_gate(
        parsed, target, checklist_path=checklist, repo_root=Path.cwd(),
        reports_dir=reports_dir(), max_age_hours=max_age_hours,
    )  # fmt: skip
    render(report, console)
    junit, verdict = write_outputs(report, out or reports_dir() / "gate")
    console.print(f"wrote {junit}\nwrote {verdict}")
    if expect_failures is not None:
        expected = {x.strip() for x in expect_failures.split(",") if x.strip()}
        problems = expected_failure_problems(report, expected)
        for problem in problems:
            console.print(f"NOT AS EXPECTED: {problem}", style="red", markup=False)
        if problems:
            raise typer.Exit(EXIT_FAILED)
        console.print(f"AS EXPECTED: {target} fails exactly {', '.join(sorted(expected))}")
        return
    if not report.passed:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
    app.command("gate")(gate)
