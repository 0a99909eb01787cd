"""``load``, ``demo``, ``ablation`` and ``bench``: the Locust side of the harness."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer

from harness.ablation import DEFAULT_SCENARIOS as DEFAULT_ABLATION_SCENARIOS
from harness.loadsuite import console
from loadtests.scenarios import SCENARIOS
from testbed.settings import HarnessSettings, HarnessSettingsError, harness_settings

T = TypeVar("T")


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/]")
    return typer.Exit(2)


def _settings(**given: object) -> HarnessSettings:
    """TIME_SCALE, TARGET, STACK_WORKERS through testbed.settings (an option given wins)."""
    try:
        return harness_settings(**given)
    except HarnessSettingsError as exc:
        raise _fail(str(exc)) from None


TIME_SCALE_HELP = "default: $TIME_SCALE or 0.1"
WORKERS_HELP = "gunicorn workers per target (default: $STACK_WORKERS or 2)"


def _guarded(run: Callable[[], T]) -> T:
    """A stack that does not boot or a load generator that dies is a clear message, exit 2."""
    try:
        return run()
    except RuntimeError as exc:  # StackError, LoadRunError and the load runner's own
        raise _fail(f"{type(exc).__name__}: {exc}") from None


def register(app: typer.Typer) -> None:
    @app.command()
    def load(
        scenario: str = typer.Option(
            "three_am",
            help=f"{', '.join(SCENARIOS)}, a comma-separated list, or all (the same "
            "scenarios locust -f loadtests/locustfile.py --scenario runs: docs/loadtests.md)",
        ),
        target: str = typer.Option(None, help="legacy, refactored or both ($TARGET or both)"),
        time_scale: float = typer.Option(None, help=TIME_SCALE_HELP),
        workers: int = typer.Option(None, min=1, help=WORKERS_HELP),
        sequential: bool = typer.Option(
            False, help="run the targets one after the other (default: side by side)"
        ),
        processes: int = typer.Option(0, min=-1, help="Locust --processes (0: one process)"),
    ) -> None:
        """Run Locust scenarios headless against the stack; write reports/<run-id>/."""
        from harness.loadsuite import parse_scenarios, run_load

        try:
            scenarios = parse_scenarios(scenario)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        settings = _settings(target=target, time_scale=time_scale, workers=workers)
        run, _ = _guarded(
            lambda: run_load(
                scenarios,
                settings.targets,
                time_scale=settings.time_scale,
                workers=settings.workers,
                parallel=not sequential,
                processes=processes,
            )
        )
        raise typer.Exit(0 if run.passed else 1)

    @app.command()
    def demo(
        time_scale: float = typer.Option(None, help=TIME_SCALE_HELP),
        workers: int = typer.Option(None, min=1, help=WORKERS_HELP),
    ) -> None:
        """The 3am incident on legacy (LB 504s, worker restarts) and refactored (none), compared."""
        from harness.loadsuite import run_demo

        settings = _settings(time_scale=time_scale, workers=workers)
        run, _ = _guarded(
            lambda: run_demo(time_scale=settings.time_scale, workers=settings.workers)
        )
        raise typer.Exit(0 if run.passed else 1)

    @app.command()
    def ablation(
        scenario: str = typer.Option(
            ",".join(DEFAULT_ABLATION_SCENARIOS),
            help="comma-separated load scenarios and chaos:<name> chaos scenarios",
        ),
        policy: str = typer.Option("all", help="comma-separated RESILIENCE_DISABLE policies"),
        time_scale: float = typer.Option(None, help=TIME_SCALE_HELP),
        duration_factor: float = typer.Option(
            0.2, min=0.05, max=1.0, help="shortens every scenario (the matrix stays < ~10 min)"
        ),
        workers: int = typer.Option(None, min=1, help=WORKERS_HELP),
    ) -> None:
        """Refactored with each resilience policy disabled in turn: the fix x failure table."""
        from harness.ablation import parse_policies, run_ablation, split_scenarios

        try:
            scenarios = [n.strip() for n in scenario.split(",") if n.strip()]
            split_scenarios(scenarios)  # unknown names fail before anything boots
            policies = parse_policies(policy)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        settings = _settings(time_scale=time_scale, workers=workers)
        run, _ = _guarded(
            lambda: run_ablation(
                scenarios,
                policies,
                time_scale=settings.time_scale,
                workers=settings.workers,
                duration_factor=duration_factor,
            )
        )
        # variants are expected to fail; only a failing baseline or an invalid run is an error
        raise typer.Exit(0 if run.passed else 1)

    @app.command()
    def bench(
        time_scale: float = typer.Option(None, help=f"{TIME_SCALE_HELP} (timeouts)"),
        workers: int = typer.Option(None, min=1, help=f"{WORKERS_HELP}, the same for both"),
        target: str = typer.Option(
            None, help="legacy, refactored or both ($TARGET or both; one alone has no ratio)"
        ),
        levels: str = typer.Option("4,8,16,32,64,128", help="concurrency steps"),
        step_s: float = typer.Option(8.0, min=4.0, help="seconds per concurrency step"),
        latency_ms: int = typer.Option(200, min=1, help="fixed LLM latency"),
        processes: int = typer.Option(0, min=-1, help="Locust --processes (0: one process)"),
        workloads: str = typer.Option(
            "suggest,conversation_end", help="comma-separated: suggest, conversation_end"
        ),
    ) -> None:
        """Throughput and CPU per request of both targets vs Little's law (bench.json, .md)."""
        from harness.bench import run_bench
        from harness.bench_workloads import UnknownWorkloadError, parse_workloads

        try:
            chosen = parse_workloads(workloads)
        except UnknownWorkloadError as exc:
            raise _fail(str(exc)) from None

        try:
            steps = [int(x) for x in levels.split(",") if x.strip()]
        except ValueError:
            raise _fail(f"--levels must be integers separated by commas, not {levels!r}") from None
        if not steps or min(steps) < 1:
            raise _fail("--levels needs at least one concurrency >= 1")
        settings = _settings(target=target, time_scale=time_scale, workers=workers)
        _guarded(
            lambda: run_bench(
                time_scale=settings.time_scale,
                workers=settings.workers,
                levels=steps,
                step_s=step_s,
                latency_ms=latency_ms,
                processes=processes,
                targets=settings.targets,
                workloads=chosen,
            )
        )
