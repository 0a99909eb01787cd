"""``fuzz``: hostile clients against both targets (Schemathesis + the battery), fuzz.json."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.fuzz.model import DEFAULT_EXAMPLES, DEFAULT_MAX_SECONDS
from testbed.settings import HarnessSettingsError, harness_settings
from testbed.stack_info import StackError

EXIT_FAILED = 1  # refactored answered a 5xx, left a request unanswered or posted a P0 card
EXIT_USAGE = 2  # bad input or a stack that cannot start


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise typer.BadParameter(f"{name}={raw!r} is not a number") from None


def fuzz(
    target: Annotated[
        str | None, typer.Option("--target", help="both, legacy or refactored ($TARGET, both)")
    ] = None,
    examples: Annotated[
        int | None,
        typer.Option(
            "--examples", help=f"cases per operation and mode ($FUZZ_EXAMPLES, {DEFAULT_EXAMPLES})"
        ),
    ] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option(
            "--max-seconds",
            help=f"sending budget per target ($FUZZ_MAX_SECONDS, {DEFAULT_MAX_SECONDS:g})",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Hypothesis seed (same seed, same cases)")
    ] = 0,
    via: Annotated[str, typer.Option("--via", help="lb (Caddy, default) or service")] = "lb",
    sources: Annotated[
        int, typer.Option("--sources", min=1, help="loopback source addresses")
    ] = 32,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="gunicorn workers ($STACK_WORKERS, 2)")
    ] = None,
    log_dir: Annotated[Path, typer.Option("--log-dir")] = Path(".stack/fuzz-logs"),
) -> None:
    """Boot the stack and fuzz each target: Schemathesis over its OpenAPI plus the battery of
    hostile inputs. Writes reports/<run-id>/fuzz.json and fuzz.md.

    Exit 1 when refactored fails (any 5xx, unanswered request or P0 card; legacy is
    expected to fail), 2 on bad input or a stack that cannot start.
    """
    from harness.fuzz.run import FuzzOptions, FuzzUsageError, run_fuzz

    console = Console(stderr=True)
    try:
        settings = harness_settings(target=target, workers=workers)
    except HarnessSettingsError as exc:
        console.print(f"fuzz: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc
    options = FuzzOptions(
        targets=settings.target,
        examples=examples
        if examples is not None
        else int(_env_number("FUZZ_EXAMPLES", DEFAULT_EXAMPLES)),
        seed=seed,
        max_seconds=max_seconds
        if max_seconds is not None
        else _env_number("FUZZ_MAX_SECONDS", DEFAULT_MAX_SECONDS),
        via=via,  # type: ignore[arg-type]  # checked by FuzzOptions.selected()
        sources=sources,
        time_scale=settings.time_scale,
        workers=settings.workers,
        log_dir=log_dir,
        command=f"python -m harness fuzz --target {settings.target}",
    )
    try:
        _results, run_dir, passed = run_fuzz(options, console)
    except FuzzUsageError as exc:
        console.print(f"fuzz: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc
    except StackError as exc:
        console.print(f"fuzz: the stack did not start: {exc}", style="red", markup=False)
        raise typer.Exit(EXIT_USAGE) from exc
    console.print(f"wrote {run_dir / 'fuzz.json'}\nwrote {run_dir / 'fuzz.md'}")
    if not passed:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("fuzz")(fuzz)
