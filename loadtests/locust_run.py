"""One scenario run inside Locust: its faults while it runs, its verdict when it ends.

Started on the master (or the single process) from Locust's ``test_start`` event when
the selected shape is a scenario's (loadtests.shapes), ended from ``test_stop`` (the
shape's last tick, the UI's stop button, ``-t`` reached, Ctrl-C): every fault it applied
is cleared, then the samples are judged against the scenario's thresholds with the same
code as ``make load`` (loadtests.outcome) and written as ``results.json`` in its folder.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent

from loadtests.distributed import wait_for_worker_samples
from loadtests.faults import FaultDriver, drive_schedule, fault_schedule
from loadtests.model import Scenario, scaled_stages
from loadtests.observe import MetricsWatcher, count_worker_timeouts, reset_fakes
from loadtests.outcome import collect_run, to_scenario_result
from testbed.results import RunResults, ScenarioResult, now_iso, write_results
from testbed.run_dirs import new_run_dir
from testbed.target import TargetInfo

NIGHTLY_GRACE_S = 10.0  # a nightly job still running at the end gets this long to answer


@dataclass
class ScenarioRun:
    scenario: Scenario
    target: TargetInfo | None  # None: no stack known, the load runs without its faults
    time_scale: float
    out_dir: Path
    log_dir: Path | None = None  # the stack's logs (gunicorn's worker timeouts)
    started_at: float = field(default_factory=time.time)
    driver: FaultDriver | None = None
    watcher: MetricsWatcher | None = None
    result: ScenarioResult | None = None
    error: str | None = None
    stopped: bool = False
    _faults: Any = None  # the greenlet driving the schedule
    _timeouts_before: int = 0

    @property
    def total_s(self) -> float:
        stages = scaled_stages(self.scenario, self.time_scale)
        return stages[-1].end_s if stages else 0.0

    def start(self) -> None:
        if self.target is None:
            return
        reset_fakes(self.target)
        self._timeouts_before = count_worker_timeouts(self.log_dir, self.target.name)
        self.driver = FaultDriver(self.target, self.time_scale, self.started_at)
        schedule = fault_schedule(self.scenario, self.time_scale, self.total_s)
        self._faults = gevent.spawn(drive_schedule, self.driver, schedule, lambda: not self.stopped)
        self.watcher = MetricsWatcher(self.target.metrics_url)
        self.watcher.start()

    def stop(self) -> None:
        """Clear every fault now (idempotent): the test is over, whatever ended it."""
        self.stopped = True
        if self._faults is not None:
            self._faults.kill(block=True, timeout=5)
        if self.driver is not None:
            self.driver.remove_all()

    def judge(self) -> ScenarioResult | None:
        """The verdict over the samples (after a bounded wait for a nightly job)."""
        self.stop()
        if self.watcher is not None:
            self.watcher.finish()
        driver = self.driver or FaultDriver(None, self.time_scale, self.started_at)
        driver.wait_background(timeout=NIGHTLY_GRACE_S)
        try:
            wait_for_worker_samples()  # a distributed run: every worker's, or an error
            raw = collect_run(
                self.target,
                self.log_dir,
                self.scenario,
                self.out_dir,
                self.started_at,
                self.total_s,
                scaled_stages(self.scenario, self.time_scale),
                driver,
                self.watcher or MetricsWatcher(None),
                self._timeouts_before,
            )
        except RuntimeError as exc:
            self.error = str(exc)
            return None
        if self.target is None:
            raw.notes.append("no stack given (--stack): the scenario ran without its faults")
        self.result = to_scenario_result(raw, self.time_scale)
        run = RunResults(
            run_id=self.out_dir.name,
            kind="locust",
            created_at=now_iso(),
            time_scale=self.time_scale,
            command="locust -f loadtests/locustfile.py",
            results=[self.result],
        )
        with contextlib.suppress(OSError):
            write_results(run, self.out_dir, update_latest=False)
        return self.result


def run_folder(scenario: str) -> Path:
    """``reports/<id>-locust-<scenario>/``: where the samples and results.json go."""
    return new_run_dir(f"locust-{scenario}")
