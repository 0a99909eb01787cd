"""``load`` and ``demo``: boot the stack, run Locust scenarios on the targets, write the run.

``reports/<run-id>/`` gets ``results.json`` (testbed.results), per target and
scenario the Locust CSVs, HTML and raw samples under ``<target>/<scenario>/``,
and report.md/html when ``harness.reporting`` is installed.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.compare import compare_runs
from harness.loadrun import (
    RawRun,
    RunOptions,
    run_locust_on_target,
    to_scenario_result,
)
from harness.reporting import write_report
from loadtests.model import Scenario
from loadtests.scenarios import SCENARIOS, get_scenario
from testbed.processes import ProcessGroup
from testbed.results import RunResults, lost_difference, now_iso, write_results
from testbed.run_dirs import new_run_dir
from testbed.run_facts import database_facts, environment_facts
from testbed.services import TARGETS
from testbed.stack import StackConfig, StackInfo, start_stack
from testbed.target import TargetInfo

# wide enough for the summary table when the output is not a terminal (make, CI logs)
console = Console(width=None if sys.stdout.isatty() else 140)


def parse_scenarios(value: str) -> list[Scenario]:
    """``three_am``, ``a,b`` or ``all``; an unknown name lists the valid ones."""
    names = list(SCENARIOS) if value == "all" else [n.strip() for n in value.split(",") if n]
    return [get_scenario(name) for name in names]


@dataclass
class StackHandle:
    group: ProcessGroup
    info: StackInfo
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> dict[str, TargetInfo]:
        """The stack's targets (a restart updates them in ``info``)."""
        return self.info.targets


@contextlib.contextmanager
def booted_stack(
    targets: Sequence[str],
    time_scale: float,
    workers: int,
    log_dir: Path,
    env_overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[StackHandle]:
    """Start the stack (testbed.stack) in a ProcessGroup; everything stops on exit or Ctrl-C."""
    with ProcessGroup(log_dir) as group:
        config_kwargs: dict[str, Any] = {
            "targets": tuple(targets),
            "time_scale": time_scale,
            "workers": workers,
        }
        if env_overrides:
            config_kwargs["env_overrides"] = {k: dict(v) for k, v in env_overrides.items()}
        info = start_stack(group, StackConfig(**config_kwargs))
        any_target = info.targets[targets[0]]
        facts = {
            "toxiproxy_kind": any_target.toxiproxy_kind,
            "load_balancer": "caddy",
            "workers": workers,
            "lb_timeout_s": any_target.lb_timeout_s,
            "app_timeout_s": any_target.app_timeout_s,
            "load_generator": "locust (FastHttpUser)",
            "database": info.database.get("kind"),
            # the server's limits, for the gate's pool_budget (the embedded one is gone by then)
            **database_facts(any_target.database_url),
        }
        yield StackHandle(group, info, facts)


def run_on_targets(
    handle: StackHandle,
    scenario: Scenario,
    run_dir: Path,
    options: RunOptions,
    *,
    parallel: bool = True,
    subdir: Callable[[str], Path] | None = None,
) -> dict[str, RawRun]:
    """Run ``scenario`` on every target of the stack; in parallel by default (one Locust
    process each, independent stacks), which halves the wall time of ``demo``."""
    raws: dict[str, RawRun] = {}
    errors: dict[str, BaseException] = {}

    def one(target: str) -> None:
        out = (subdir or (lambda t: run_dir / t / scenario.name))(target)
        try:
            raws[target] = run_locust_on_target(
                handle.group, handle.targets[target], scenario, out, options
            )
        except BaseException as exc:
            errors[target] = exc

    targets = list(handle.targets)
    if parallel and len(targets) > 1:
        threads = [threading.Thread(target=one, args=(t,), name=f"load-{t}") for t in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for target in targets:
            one(target)
    if errors:
        target, exc = next(iter(errors.items()))
        raise RuntimeError(f"load run on {target} failed: {exc}") from exc
    return raws


def write_run(run: RunResults, run_dir: Path) -> None:
    write_results(run, run_dir)
    try:
        write_report(run, run_dir)
    except Exception as exc:  # a broken report must not lose the measured results
        console.print(f"[yellow]report not written: {exc!r}[/]")


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_summary(run: RunResults) -> None:
    """One row per result, then every broken threshold by name, observed value and limit."""
    table = Table(title=f"{run.kind} run {run.run_id}")
    for column in (
        "target",
        "scenario",
        "variant",
        "verdict",
        "requests",
        "LB 504",
        "p50 ms",
        "p99 ms",
        "restarts",
    ):
        table.add_column(column, no_wrap=True)
    for result in run.results:
        colour = {"pass": "green", "expected_fail": "yellow", "unexpected_pass": "cyan"}.get(
            result.verdict, "red"
        )
        table.add_row(
            result.target,
            result.scenario,
            result.variant or "-",
            f"[{colour}]{result.verdict}[/]",
            str(result.requests_total),
            _fmt(result.extra.get("lb_504_count")),
            _fmt(result.latency_ms.get("p50")),
            _fmt(result.latency_ms.get("p99")),
            _fmt(result.extra.get("worker_timeouts")),
        )
    console.print(table)
    for result in run.results:
        name = "/".join(p for p in (result.target, result.scenario, result.variant) if p)
        for expectation in result.failed_expectations():
            console.print(f"  {name} ({result.verdict}) broken: {expectation.describe()}")
    if run.kind != "ablation":
        for result in run.lost_differences():
            console.print(f"[red]{lost_difference(result)}[/]")


def new_run(kind: str, time_scale: float, facts: Mapping[str, Any]) -> RunResults:
    run_id = ""
    return RunResults(
        run_id=run_id,
        kind=kind,
        created_at=now_iso(),
        time_scale=time_scale,
        command=" ".join(["python -m harness", *sys.argv[1:]]),
        environment=environment_facts(**facts),
    )


def run_load(
    scenarios: Sequence[Scenario],
    targets: Sequence[str],
    *,
    time_scale: float,
    workers: int = 2,
    parallel: bool = True,
    processes: int = 0,
    kind: str = "load",
) -> tuple[RunResults, Path]:
    run_dir = new_run_dir(kind)
    console.print(f"[bold]{kind}[/] run in {run_dir} (TIME_SCALE={time_scale})")
    with booted_stack(targets, time_scale, workers, run_dir / "logs") as handle:
        run = new_run(kind, time_scale, handle.facts)
        run.run_id = run_dir.name
        options = RunOptions(time_scale=time_scale, processes=processes, run_id=run_dir.name)
        for scenario in scenarios:
            console.print(f"  {scenario.summary()}")
            raws = run_on_targets(handle, scenario, run_dir, options, parallel=parallel)
            run.results += [to_scenario_result(raws[t], time_scale) for t in targets]
    write_run(run, run_dir)
    print_summary(run)
    return run, run_dir


def demo_summary(run: RunResults) -> list[str]:
    """The lines a new user reads: 504s legacy vs refactored, p50/p99, worker restarts."""
    lines = []
    for result in run.results:
        metrics = result.extra.get("metrics", {})
        lines.append(
            f"{result.target:>10}: {_fmt(metrics.get('lb_504_count'))} LB 504s, "
            f"p50 {_fmt(result.latency_ms.get('p50'))} ms, "
            f"p99 {_fmt(result.latency_ms.get('p99'))} ms, "
            f"{_fmt(metrics.get('worker_timeouts'))} worker restarts, "
            f"verdict {result.verdict}"
        )
    return lines


def run_demo(*, time_scale: float, workers: int = 2) -> tuple[RunResults, Path]:
    run, run_dir = run_load(
        [get_scenario("three_am")], TARGETS, time_scale=time_scale, workers=workers
    )
    console.print("\n[bold]The 3am incident, reproduced[/]")
    for line in demo_summary(run):
        console.print("  " + line)
    compare_dir = run_dir / "compare"
    try:
        _, page = compare_runs(run, None, compare_dir)  # legacy vs refactored of this run
        console.print(f"  compare report: {page}")
    except Exception as exc:
        console.print(f"[yellow]compare report not written: {exc!r}[/]")
    return run, run_dir
