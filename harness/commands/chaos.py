"""``chaos``: run chaos scenarios against both targets and write reports/<run-id>/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chaos.scenarios import UnknownScenarioError, registry, select
from harness.chaos_run import ChaosOptions, ChaosUsageError, run_chaos
from testbed.settings import HarnessSettingsError, harness_settings
from testbed.stack_info import StackError

EXIT_FAILED = 1  # a result is fail, invalid or unexpected_pass (a lost difference)
EXIT_USAGE = 2  # unknown scenario or target, bad time scale, a stack that cannot start


def chaos(
    scenario: Annotated[
        str, typer.Option("--scenario", help="all, or scenario names separated by commas")
    ] = "all",
    target: Annotated[
        str | None, typer.Option("--target", help="both, legacy or refactored ($TARGET, both)")
    ] = None,
    time_scale: Annotated[
        float | None,
        typer.Option("--time-scale", help="multiplies every timeout (default: $TIME_SCALE or 0.1)"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="gunicorn workers ($STACK_WORKERS, 2)")
    ] = None,
    log_dir: Annotated[
        Path, typer.Option("--log-dir", help="where the stack's process logs go")
    ] = Path(".stack/chaos-logs"),
    list_only: Annotated[bool, typer.Option("--list", help="list the scenarios and exit")] = False,
) -> None:
    """Boot the stack, inject each scenario's faults under load, write results + report.

    Exit code 1 when any result is fail or invalid, when legacy passes a scenario it is
    expected to fail (unexpected_pass: the scenario lost its teeth) or when nothing ran
    (every scenario skipped); legacy's expected failures are fine. 2 on bad input or a
    stack that cannot start.
    """

    console = Console(stderr=True)
    if list_only:
        for name, s in registry().items():
            Console().print(f"[bold]{name}[/]: {s.description}")
        return
    try:
        select(scenario)
        settings = harness_settings(target=target, time_scale=time_scale, workers=workers)
    except (UnknownScenarioError, HarnessSettingsError) as exc:
        console.print(f"chaos: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc
    options = ChaosOptions(
        scenarios=scenario,
        targets=settings.target,
        time_scale=settings.time_scale,
        workers=settings.workers,
        log_dir=log_dir,
        command=f"python -m harness chaos --scenario {scenario} --target {settings.target}",
    )

    try:
        run, _run_dir = run_chaos(options, console)
    except ChaosUsageError as exc:
        console.print(f"chaos: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc
    except StackError as exc:  # a port in use, a missing binary, a dependency not healthy
        console.print(
            f"chaos: the stack did not start: {exc}", style="red", markup=False, highlight=False
        )
        raise typer.Exit(EXIT_USAGE) from exc
    if not run.passed:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("chaos")(chaos)
