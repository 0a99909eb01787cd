"""``python -m harness up | down | status``: the stack behind ``make up`` (docs/stack.md)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from testbed.net import http_status
from testbed.reaper import reap_dead_runs
from testbed.settings import HarnessSettings, HarnessSettingsError, harness_settings
from testbed.stack_info import STACK_DIR, StackError, StackInfo, load_stack_info
from testbed.stack_supervisor import (
    StatePaths,
    clear_state,
    identity,
    kill_leftovers,
    recorded_children,
    running_supervisor,
    same_process_alive,
    spawn,
    wait_gone,
)

console = Console()
err = Console(stderr=True)
BOOT_TIMEOUT_S = 300.0
STOP_GRACE_S = 30.0


def _settings(**given: object) -> HarnessSettings:
    """The harness settings with the CLI's options winning; bad input is a usage error."""
    try:
        return harness_settings(**given)
    except HarnessSettingsError as exc:
        raise typer.BadParameter(str(exc)) from None


def print_urls(info: StackInfo, stack_json: Path = STACK_DIR / "stack.json") -> None:
    table = Table(title=f"stack (TIME_SCALE={info.time_scale:g}, workers={info.workers})")
    for column in ("target", "what", "url / name"):
        table.add_column(column, overflow="fold")
    for name, target in info.targets.items():
        table.add_row(name, "load balancer", target.lb_url)
        table.add_row(name, "service", target.service_url)
        table.add_row(name, f"toxiproxy ({target.toxiproxy_kind})", target.toxiproxy_url)
        proxies = ", ".join(f"{k}={v}" for k, v in target.proxies.items())
        table.add_row(name, "proxies", proxies)
        for kind, fake in target.fakes.items():
            table.add_row(name, f"fake {kind} control", fake.control_url)
        table.add_row(
            name, "admin token", f"targets.{name}.admin_token in stack.json", end_section=True
        )
    console.print(table)
    console.print(f"database: {info.database['kind']} {info.database['admin_url']}")
    console.print(f"amqp: {info.amqp_url or '(none: the outbox accumulates)'}")
    console.print(f"logs: {info.log_dir}   stack.json: {stack_json}   stop: make down")


def _say(line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)  # one line each


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def up(
    target: Annotated[
        str | None, typer.Option(help="legacy, refactored or both (default $TARGET or both)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="gunicorn workers per target (default $STACK_WORKERS or 2)")
    ] = None,
    time_scale: Annotated[
        float | None, typer.Option(help="duration multiplier (default $TIME_SCALE or 0.1)")
    ] = None,
    lb_port: Annotated[
        int, typer.Option(help="load balancer port of the first target (next: +1); 0 = free")
    ] = 0,
    seed: Annotated[int, typer.Option(help="seed of the bundled Toxiproxy's random draws")] = 0,
    state_dir: Annotated[Path, typer.Option(help="where stack.json and logs go")] = STACK_DIR,
) -> None:
    """Boot the stack in a detached supervisor; print the URLs once it is ready."""
    paths = StatePaths(state_dir.resolve())
    pid = running_supervisor(paths)
    if pid is not None:
        err.print(f"[red]already running (pid {pid}): make down first[/]")
        raise typer.Exit(1)
    kill_leftovers(paths)  # children of a supervisor that was killed hard
    clear_state(paths)
    reap_dead_runs(say=_say)  # and whatever any killed run left (the ledger)
    settings = _settings(target=target, workers=workers, time_scale=time_scale)
    targets, workers, scale = settings.targets, settings.workers, settings.time_scale
    for old_log in paths.logs.glob("*.log"):  # this boot's logs only, not the last one's
        old_log.unlink()
    argv = ["--targets", ",".join(targets), "--workers", str(workers)]
    argv += ["--time-scale", f"{scale:g}", "--seed", str(seed), "--lb-port", str(lb_port)]
    popen = spawn(paths, argv)
    console.print(f"booting {', '.join(targets)} (supervisor pid {popen.pid}, logs {paths.logs})")
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    try:
        while not paths.stack_json.exists():
            if popen.poll() is not None or time.monotonic() > deadline:
                _abort(paths, popen.pid, "the stack did not start")
            time.sleep(0.2)
    except KeyboardInterrupt:
        _abort(paths, popen.pid, "interrupted")
    print_urls(load_stack_info(paths.stack_json), paths.stack_json)


def _abort(paths: StatePaths, pid: int, why: str) -> None:
    _stop(paths, pid)
    err.print(f"[red]{why}[/]; supervisor log ({paths.supervisor_log}):")
    err.print(_tail(paths.supervisor_log), markup=False, highlight=False)
    err.print("nothing is left running.")
    raise typer.Exit(1)


def _stop(paths: StatePaths, pid: int) -> bool:
    """SIGTERM the supervisor, SIGKILL after a grace period, reap every child; True if clean."""
    children = recorded_children(paths)
    supervisor = identity(pid)
    if supervisor is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not wait_gone([supervisor], STOP_GRACE_S):
            err.print(f"supervisor {pid} did not stop in {STOP_GRACE_S:.0f}s: SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            wait_gone([supervisor], 5)
    kill_leftovers(paths)
    gone = wait_gone(children, 10)
    clear_state(paths)
    return gone


def down(
    state_dir: Annotated[Path, typer.Option(help="the state dir given to up")] = STACK_DIR,
) -> None:
    """Stop everything `up` started and wait until every process is gone; then reap what
    any killed run left (the ledger: process groups, stack_* databases, temp dirs)."""
    paths = StatePaths(state_dir.resolve())
    pid = running_supervisor(paths)
    if pid is None:
        leftovers = [r for r in recorded_children(paths) if same_process_alive(r)]
        kill_leftovers(paths)
        wait_gone(leftovers, 10)
        clear_state(paths)
        console.print("no stack running" + (f" (reaped {len(leftovers)})" if leftovers else ""))
        reap_dead_runs(say=_say)
        return
    stopped = _stop(paths, pid)
    reap_dead_runs(say=_say)  # the supervisor's ledger is gone unless something survived it
    if stopped:
        console.print(f"stack stopped (supervisor pid {pid})")
    else:
        err.print("[red]some processes did not stop[/]: check `ps` and .stack/logs")
        raise typer.Exit(1)


def _health(url: str | None) -> str:
    if not url:
        return "-"
    status = http_status(url, timeout=2.0)
    if status is None:
        return "[red]down[/]"
    return f"[green]{status}[/]" if status < 400 else f"[red]{status}[/]"


def status(
    state_dir: Annotated[Path, typer.Option(help="the state dir given to up")] = STACK_DIR,
) -> None:
    """Live health of each target's load balancer, service, fakes and Toxiproxy."""
    paths = StatePaths(state_dir.resolve())
    try:
        info = load_stack_info(paths.stack_json)
    except StackError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    pid = running_supervisor(paths)
    table = Table(title=f"stack (supervisor {'pid ' + str(pid) if pid else 'NOT RUNNING'})")
    for column in ("target", "component", "url", "health"):
        table.add_column(column)
    for name, target in info.targets.items():
        rows = [
            ("load balancer", target.lb_url, f"{target.lb_url}/health"),
            ("service", target.service_url, f"{target.service_url}/health"),
            ("service ready", target.service_url, f"{target.service_url}/health/ready"),
            ("toxiproxy", target.toxiproxy_url, f"{target.toxiproxy_url}/version"),
        ]
        rows += [(f"fake {k}", v.url, f"{v.url}/health") for k, v in target.fakes.items()]
        for component, url, probe in rows:
            table.add_row(name, component, url, _health(probe))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
