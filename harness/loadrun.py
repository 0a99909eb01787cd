"""Run a Locust scenario against one target of a running stack (``make load``'s engine).

Locust (``loadtests/locustfile.py``) generates the load and writes one sample per request;
beside it this process drives the scenario's faults with the load engine's one fault
driver (:mod:`loadtests.faults`, the driver a run started from Locust's own UI uses too),
watches the target (:mod:`loadtests.observe`) and gathers the run
(:mod:`loadtests.outcome`), whose expectations are the scenario's thresholds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from loadtests.faults import FaultDriver, drive_schedule, fault_schedule
from loadtests.metrics import STARTED_FILE
from loadtests.model import ScaledStage, Scenario, scaled_stages
from loadtests.observe import MetricsWatcher, count_worker_timeouts, parse_metrics, reset_fakes
from loadtests.outcome import RawRun, collect_run, to_scenario_result
from testbed.processes import ProcessGroup
from testbed.target import TargetInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"

# the load engine's pieces, importable from here as before the split (issue 14)
__all__ = [
    "LoadRunError",
    "RawRun",
    "RunOptions",
    "locust_argv",
    "parse_metrics",
    "run_locust_on_target",
    "to_scenario_result",
]


class LoadRunError(RuntimeError):
    """The load generator or the target misbehaved in a way that makes the run meaningless."""


def locust_argv(
    host: str, out_dir: Path, *, processes: int = 0, extra: tuple[str, ...] = ()
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--csv",
        str(out_dir / "locust"),
        "--csv-full-history",
        "--html",
        str(out_dir / "locust.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    if processes:
        argv += ["--processes", str(processes)]
    return argv + list(extra)


def _stages_env(stages: list[ScaledStage]) -> str:
    return json.dumps([{**asdict(s), "classes": list(s.classes)} for s in stages])


def wait_for_file(path: Path, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if not alive():
            raise LoadRunError(f"Locust exited before the test started (see {path.parent})")
        time.sleep(0.05)
    raise LoadRunError(f"Locust did not start the test within {timeout:.0f}s")


@dataclass
class RunOptions:
    time_scale: float
    duration_factor: float = 1.0
    processes: int = 0  # Locust --processes (0: one process)
    kind: str = "load"
    variant: str = ""
    run_id: str = ""
    stages: list[ScaledStage] | None = None  # override (bench)
    extra_env: Mapping[str, str] = field(default_factory=dict)


def run_locust_on_target(
    group: ProcessGroup,
    target: TargetInfo,
    scenario: Scenario,
    out_dir: Path,
    options: RunOptions,
) -> RawRun:
    """Run the scenario's load and faults against ``target``; wait until both are done
    (its gunicorn logs are in ``group``'s log folder: the worker timeouts counted there)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stages = options.stages or scaled_stages(scenario, options.time_scale, options.duration_factor)
    total_s = stages[-1].end_s if stages else 0.0
    reset_fakes(target)
    timeouts_before = count_worker_timeouts(group.log_dir, target.name)
    env = {
        "LOADTEST_STAGES": _stages_env(stages),
        "LOADTEST_OUT_DIR": str(out_dir),
        # short (ids are <= 64 chars) and unique per run, target and variant
        "LOADTEST_RUN_ID": hashlib.sha1(
            f"{options.run_id}-{target.name}-{options.variant}-{time.time()}".encode()
        ).hexdigest()[:10],
        "TIME_SCALE": str(options.time_scale),
        # Locust puts the locustfile's own folder on sys.path; the package needs the root.
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
        **options.extra_env,
    }
    name = f"locust-{target.name}-{scenario.name}{'-' + options.variant if options.variant else ''}"
    process = group.start(
        name, locust_argv(target.lb_url, out_dir, processes=options.processes), env=env
    )
    watcher = MetricsWatcher(target.metrics_url)
    watcher.start()
    driver: FaultDriver | None = None
    cpu = None
    try:
        wait_for_file(out_dir / STARTED_FILE, timeout=60.0, alive=process.alive)
        started_at = json.loads((out_dir / STARTED_FILE).read_text())["started_at"]
        with contextlib.suppress(psutil.Error):
            cpu = psutil.Process(process.pid)
            cpu.cpu_percent(None)
        driver = FaultDriver(target, options.time_scale, started_at)
        schedule = fault_schedule(scenario, options.time_scale, total_s, options.duration_factor)
        drive_schedule(driver, schedule, process.alive)
        deadline = started_at + total_s + 60.0
        while process.alive() and time.time() < deadline:
            time.sleep(0.2)
        if process.alive():
            raise LoadRunError(f"Locust did not stop {total_s:.0f}s after start (see {out_dir})")
    finally:
        if driver is not None:
            driver.remove_all()
        watcher.finish()
        process.stop(grace=10)
    cpu_percent = None
    if cpu is not None:
        with contextlib.suppress(psutil.Error):
            cpu_percent = cpu.cpu_percent(None)
    # a nightly job still running after the load gets a bounded moment to answer (it started
    # a whole stage earlier; past this it counts as not completed)
    driver.wait_background(timeout=10.0)
    try:
        return collect_run(
            target,
            group.log_dir,
            scenario,
            out_dir,
            started_at,
            total_s,
            stages,
            driver,
            watcher,
            timeouts_before,
            cpu_percent,
        )
    except RuntimeError as exc:  # no samples: the run proves nothing
        raise LoadRunError(str(exc)) from exc
