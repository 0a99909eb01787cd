"""Run chaos scenarios against the real stack and write the run's results and report.

Boots the stack (``testbed.stack.start_stack``) in a :class:`ProcessGroup` (everything is
stopped at the end, also on Ctrl-C), then runs the selected scenarios one target at a
time. Between scenarios it removes every toxic and re-enables every proxy (Toxiproxy
``POST /reset``), resets the fakes (faults, counters, cards) and restarts the target's
service when the previous scenario left state behind (open breakers, hung workers, a
rate-limit window). Writes ``reports/<run-id>/results.json`` + ``report.md`` +
``report.html`` and returns the run; the caller turns ``run.passed`` into the exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chaos.scenarios import select
from chaos.scenarios.context import ScenarioContext
from chaos.scenarios.scenario import Scenario
from harness.reporting import VERDICT_MARK, key_figures, write_report
from testbed.processes import ProcessGroup
from testbed.results import (
    Expectation,
    RunResults,
    ScenarioResult,
    lost_difference,
    now_iso,
    write_results,
)
from testbed.run_dirs import new_run_dir
from testbed.run_facts import database_facts, environment_facts
from testbed.settings import DEFAULT_TIME_SCALE
from testbed.stack import restart_service, start_stack
from testbed.stack_config import StackConfig
from testbed.target import TargetInfo
from testbed.targets import UnknownTargetError
from testbed.targets import parse_targets as targets_of

READY_TIMEOUT_S = 60.0


class ChaosUsageError(ValueError):
    """Bad command-line input (unknown target, bad time scale)."""


def parse_targets(spec: str) -> list[str]:
    """``testbed.targets.parse_targets``, its error as a usage error."""
    try:
        return list(targets_of(spec))
    except UnknownTargetError as exc:
        raise ChaosUsageError(str(exc)) from None


@dataclass
class ChaosOptions:
    scenarios: str = "all"
    targets: str = "both"
    time_scale: float = DEFAULT_TIME_SCALE
    workers: int = 2
    log_dir: Path = Path(".stack/chaos-logs")
    reports_base: Path | None = None
    command: str = ""


@dataclass
class RunState:
    """What the runner carries between scenarios."""

    run: RunResults
    run_dir: Path
    tag: str
    skipped: list[dict[str, str]] = field(default_factory=list)


def run_chaos(options: ChaosOptions, console: Console | None = None) -> tuple[RunResults, Path]:
    """Boot the stack, run every selected scenario on every selected target, write the run."""

    console = console or Console(stderr=True)
    scenarios = select(options.scenarios)  # bad names fail before anything boots
    targets = parse_targets(options.targets)
    if not 0 < options.time_scale <= 10:
        raise ChaosUsageError(f"--time-scale must be in (0, 10], got {options.time_scale}")
    run_dir = new_run_dir("chaos", options.reports_base)
    run = RunResults(
        run_id=run_dir.name,
        kind="chaos",
        created_at=now_iso(),
        time_scale=options.time_scale,
        command=options.command or " ".join(sys.argv),
        environment=environment_facts(workers=options.workers),
    )
    state = RunState(run, run_dir, tag=run_dir.name.split("-")[1][-4:] + secrets.token_hex(1))
    wall = time.monotonic()
    booted = False
    try:
        with ProcessGroup(options.log_dir) as group:
            console.print(
                f"[bold]booting the stack[/] (targets: {', '.join(targets)}, "
                f"TIME_SCALE={options.time_scale:g}, logs in {options.log_dir})"
            )
            info = start_stack(
                group,
                StackConfig(
                    targets=tuple(targets), time_scale=options.time_scale, workers=options.workers
                ),
            )
            booted = True
            run.environment.update(_stack_facts(info))
            console.print(f"stack ready in {time.monotonic() - wall:.1f} s")
            _run_all(group, info, scenarios, targets, state, console)
    except KeyboardInterrupt:
        run.environment["interrupted"] = True
        console.print("[yellow]interrupted: writing the results measured so far[/]")
        raise
    finally:
        run.environment["wall_time_s"] = round(time.monotonic() - wall, 1)
        run.finished_at = now_iso()
        if state.skipped:
            run.environment["skipped"] = state.skipped
        # A stack that never booted measured nothing: keep its record, but reports/latest
        # (what compare and gate read) stays on the last run that did.
        write_results(run, run_dir, update_latest=booted)
        write_report(run, run_dir)
    if not run.results:
        console.print(
            "[red]nothing ran[/]: every selected scenario was skipped "
            + "; ".join(sorted({f"{s['scenario']}: {s['reason']}" for s in state.skipped}))
        )
    print_summary(run, run_dir, console)
    return run, run_dir


def _run_all(
    group: ProcessGroup,
    info: Any,
    scenarios: Sequence[Scenario],
    targets: Sequence[str],
    state: RunState,
    console: Console,
) -> None:

    total = len(scenarios) * len(targets)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("chaos", total=total)
        for target in targets:
            endpoints = info.targets[target]
            needs_restart = False
            for scenario in scenarios:
                progress.update(task, description=f"{target} · {scenario.name}")
                if scenario.needs_amqp and not amqp_url_of(info):
                    reason = "AMQP_URL is unset: no broker to take down (set AMQP_URL to run it)"
                    state.skipped.append(
                        {"target": target, "scenario": scenario.name, "reason": reason}
                    )
                    progress.console.print(
                        f"  [yellow]skipped[/] {target} {scenario.name}: {reason}"
                    )
                    progress.advance(task)
                    continue
                if needs_restart:
                    progress.update(task, description=f"{target} · restarting the service")
                    restart_service(group, info, target)
                    progress.update(task, description=f"{target} · {scenario.name}")
                result = asyncio.run(
                    run_scenario(scenario, target, endpoints, info, state.tag, state.run.time_scale)
                )
                state.run.results.append(result)
                # persist after each scenario: a crash or Ctrl-C keeps what was measured
                write_results(state.run, state.run_dir)
                state.run.finished_at = None  # set for real when the run ends
                needs_restart = target in scenario.restart_after or result.verdict == "invalid"
                progress.console.print(
                    f"  {VERDICT_MARK[result.verdict]:<20} {target:<10} {scenario.name:<20} "
                    f"{key_figures(result)}"
                )
                for e in result.failed_expectations():
                    progress.console.print(f"      [dim]{e.describe()}[/]")
                progress.advance(task)


async def run_scenario(
    scenario: Scenario,
    target: str,
    endpoints: TargetInfo,
    info: Any,
    tag: str,
    time_scale: float,
) -> ScenarioResult:
    """Reset the injectors, wait for the target, run one scenario; never raises (a crash
    becomes an ``invalid`` result naming the error, so the run goes on)."""
    started_at = now_iso()
    t0 = time.monotonic()
    prefix = f"{target[0]}{tag}-{scenario.name[:14]}"
    async with httpx.AsyncClient(timeout=10.0) as http:
        ctx = ScenarioContext(
            target=target,
            endpoints=endpoints,
            http=http,
            time_scale=time_scale,
            prefix=prefix,
            amqp_url=amqp_url_of(info),
        )
        try:
            await reset_injectors(http, endpoints)
            await wait_ready(http, endpoints.lb_url)
            return await scenario.run(ctx)
        except Exception as exc:  # a harness failure must be reported, not crash the suite
            return ScenarioResult(
                target=target,
                scenario=scenario.name,
                kind="chaos",
                started_at=started_at,
                duration_s=round(time.monotonic() - t0, 2),
                expected_to_fail=scenario.expected_to_fail(target),
                description=scenario.description,
                expectations=[
                    Expectation.check(
                        "scenario_completed",
                        f"the scenario ran to the end ({type(exc).__name__}: {exc})",
                        0,
                        "==",
                        1,
                        role="sanity",
                    )
                ],
                notes=[*ctx.notes, f"scenario crashed: {exc!r}"],
            )
        finally:
            # leave nothing injected behind, whatever happened
            with contextlib.suppress(httpx.HTTPError):
                await reset_injectors(http, endpoints)


def amqp_url_of(info: Any) -> str | None:
    """The broker URL with its password: stack info redacts it, the environment has it."""
    if not getattr(info, "amqp_url", None):
        return None
    return os.environ.get("AMQP_URL") or getattr(info, "amqp_url", None)


async def reset_injectors(http: httpx.AsyncClient, endpoints: TargetInfo) -> None:
    await endpoints.async_toxiproxy(http).reset()
    for kind in endpoints.fakes:
        await endpoints.async_fake_control(kind, http).reset()


async def wait_ready(
    http: httpx.AsyncClient, lb_url: str, timeout_s: float = READY_TIMEOUT_S
) -> None:
    """Poll ``/health`` through the load balancer until it answers 200."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = await http.get(f"{lb_url}/health", timeout=2.0)
            if response.status_code == 200:
                return
            last = response.status_code
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{lb_url}/health not 200 after {timeout_s:.0f} s (last: {last})")


def _stack_facts(info: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for name in ("workers", "time_scale", "amqp_url"):
        if hasattr(info, name):
            facts[name if name != "amqp_url" else "broker"] = (
                getattr(info, name) if name != "amqp_url" else bool(getattr(info, name))
            )
    targets = getattr(info, "targets", {})
    for target, t in targets.items():
        facts[f"{target}_toxiproxy"] = getattr(t, "toxiproxy_kind", None)
        facts[f"{target}_lb_timeout_s"] = getattr(t, "lb_timeout_s", None)
        facts[f"{target}_app_timeout_s"] = getattr(t, "app_timeout_s", None)
    database = getattr(info, "database", None)
    if database is not None:
        facts["database"] = getattr(database, "kind", None) or (
            database.get("kind") if isinstance(database, dict) else None
        )
    # the targets' databases share the stack's one server: its limits, for the gate's
    # pool_budget (the embedded server is gone by the time the gate runs)
    database_url = next(
        (t.database_url for t in targets.values() if getattr(t, "database_url", "")), ""
    )
    if database_url:
        facts.update(database_facts(database_url))
    facts["load_balancer"] = "caddy"
    return facts


def print_summary(run: RunResults, run_dir: Path, console: Console) -> None:
    table = Table(title=f"chaos run {run.run_id}")
    table.add_column("scenario")
    targets = list(dict.fromkeys(r.target for r in run.results))
    for target in targets:
        table.add_column(target)
    for scenario in dict.fromkeys(r.scenario for r in run.results):
        row = [scenario]
        for target in targets:
            r = run.find(target, scenario)
            row.append("—" if r is None else f"{VERDICT_MARK[r.verdict]}\n{key_figures(r)}")
        table.add_row(*row)
    console.print(table)
    for skipped in run.environment.get("skipped", []):
        console.print(
            f"[yellow]skipped[/] {skipped['target']} {skipped['scenario']}: {skipped['reason']}"
        )
    for lost in run.lost_differences():
        console.print(f"[red]{lost_difference(lost)}[/]")
    verdict = "[green]PASSED[/]" if run.passed else "[red]FAILED[/]"
    console.print(
        f"{verdict} in {run.environment.get('wall_time_s', '?')} s · "
        f"{run_dir / 'results.json'} · {run_dir / 'report.md'} · {run_dir / 'report.html'}"
    )
