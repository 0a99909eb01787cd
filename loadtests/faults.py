"""The load engine's fault clock: a scenario's scheduled faults applied at their marks.

``make load`` (harness.loadrun, beside the Locust process) and a run started from Locust
itself (loadtests.locust_run, on the master, from Locust's test_start/test_stop events)
drive the same schedule with the same :class:`FaultDriver`, so a scenario's faults and
their fault windows are the same however it is started. A fault is one of the shared
model (:mod:`testbed.faults`), injected with its :class:`testbed.faults.FaultInjector`
like a chaos scenario's; only the nightly job (:class:`loadtests.model.NightlyRun`) is
fired here. Inside Locust the process is gevent-patched: the blocking calls and the
nightly job's thread cooperate.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from loadtests.model import NightlyRun, Scenario, ScheduledFault, scaled
from testbed.faults import Fault, FaultInjector
from testbed.target import TargetInfo

Action = Literal["apply", "remove"]


def toxic_name(label: str) -> str:
    """The Toxiproxy toxic's name for a fault (``load_`` + the label as a slug)."""
    return "load_" + re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


class FaultDriver:
    """Applies a scenario's faults to one target and remembers when (fault windows).

    ``target`` None: a run without a stack, which applies nothing."""

    def __init__(self, target: TargetInfo | None, time_scale: float, started_at: float) -> None:
        self.target = target
        self.time_scale = time_scale
        self.started_at = started_at
        self.windows: list[dict[str, Any]] = []
        self.applied = 0
        self.rejected = 0  # faults the target refused (e.g. the nightly call answered 4xx)
        # nightly jobs fired / answered 2xx (the job itself must survive the incident)
        self.nightly_started = 0
        self.nightly_completed = 0
        self.notes: list[str] = []
        self._active: list[tuple[ScheduledFault, Fault, dict[str, Any]]] = []
        self._threads: list[threading.Thread] = []
        self._injector: FaultInjector | None = None

    @property
    def active_labels(self) -> list[str]:
        return [scheduled.label for scheduled, _fault, _window in self._active]

    def _since_start(self) -> float:
        return round(time.time() - self.started_at, 3)

    def _stack_target(self) -> TargetInfo:
        if self.target is None:
            raise LookupError("no target: the run has no stack")
        return self.target

    def _inject(self) -> FaultInjector:
        if self._injector is None:
            self._injector = FaultInjector(self._stack_target())
        return self._injector

    def apply(self, scheduled: ScheduledFault) -> None:
        fault = scheduled.at_scale(self.time_scale)
        window = {"label": scheduled.label, "start_s": self._since_start(), "end_s": None}
        try:
            if isinstance(fault, NightlyRun):
                self._start_nightly(window)
            elif not self._injected(scheduled, fault, window):
                self.notes.append(f"fault {scheduled.label!r} not active when read back")
                return
        except (httpx.HTTPError, LookupError) as exc:  # LookupError: no such fake, no target
            self.notes.append(f"fault {scheduled.label!r} could not be applied: {exc!r}")
            return
        self.applied += 1
        self.windows.append(window)

    def _injected(self, scheduled: ScheduledFault, fault: Fault, window: dict[str, Any]) -> bool:
        confirmed = self._inject().inject(fault, toxic_name(scheduled.label))
        self._active.append((scheduled, fault, window))  # withdrawn at the end either way
        return confirmed

    def remove(self, scheduled: ScheduledFault) -> None:
        for entry in list(self._active):
            active, fault, window = entry
            if active is scheduled:
                self._inject().withdraw(fault, toxic_name(scheduled.label))
                window["end_s"] = self._since_start()
                self._active.remove(entry)

    def remove_all(self) -> None:
        """Clear every fault still applied (the run ended, was stopped or failed)."""
        for scheduled, fault, window in list(self._active):
            with contextlib.suppress(Exception):
                self._inject().withdraw(fault, toxic_name(scheduled.label))
            window["end_s"] = window["end_s"] or self._since_start()
        self._active.clear()
        if self._injector is not None:
            self._injector.close()
            self._injector = None

    def wait_background(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout=timeout)

    def _start_nightly(self, window: dict[str, Any]) -> None:
        """Fire the nightly job straight at the service (not through the LB, which would give
        up on it) in the background: on legacy it blocks a worker, which is the point."""
        target = self._stack_target()
        url = f"{target.service_url}/v1/admin/nightly"
        headers = {"Authorization": f"Bearer {target.admin_token or ''}"}

        def call() -> None:
            begin = time.monotonic()
            try:
                response = httpx.post(url, headers=headers, json={}, timeout=600.0)
                outcome = f"{response.status_code} {response.text[:200]}"
                if 400 <= response.status_code < 500:  # wrong token, endpoint disabled: no job
                    self.rejected += 1
                elif response.is_success:
                    self.nightly_completed += 1
            except httpx.HTTPError as exc:
                outcome = f"no answer ({type(exc).__name__})"
            window["end_s"] = self._since_start()
            self.notes.append(f"nightly job: {outcome} after {time.monotonic() - begin:.1f}s")

        self.nightly_started += 1
        thread = threading.Thread(target=call, daemon=True, name="nightly")
        thread.start()
        self._threads.append(thread)


@dataclass(frozen=True)
class ScheduledAction:
    at_s: float  # wall-clock seconds after the test started (scaled)
    action: Action
    fault: ScheduledFault


def fault_schedule(
    scenario: Scenario, time_scale: float, total_s: float, duration_factor: float = 1.0
) -> list[ScheduledAction]:
    """The scenario's apply/remove actions at their scaled marks, in order (a removal before
    an application at the same mark); actions at or past the run's end are left out."""
    actions: list[ScheduledAction] = []
    for fault in scenario.faults:
        actions.append(
            ScheduledAction(scaled(fault.start_s, time_scale, duration_factor), "apply", fault)
        )
        if fault.end_s is not None:
            actions.append(
                ScheduledAction(scaled(fault.end_s, time_scale, duration_factor), "remove", fault)
            )
    actions.sort(key=lambda a: (a.at_s, a.action == "apply"))
    return [a for a in actions if a.at_s < total_s]


def drive_schedule(
    driver: FaultDriver,
    schedule: list[ScheduledAction],
    alive: Callable[[], bool],
    tick_s: float = 0.05,
) -> None:
    """Apply and remove the faults at their marks (relative to ``driver.started_at``) while
    ``alive()``; returns when the schedule is done or the run is over. The caller clears
    what is left with :meth:`FaultDriver.remove_all`."""
    for step in schedule:
        due = driver.started_at + step.at_s
        while time.time() < due and alive():
            time.sleep(min(tick_s, max(0.0, due - time.time())))
        if not alive():
            return
        if step.action == "apply":
            driver.apply(step.fault)
        else:
            driver.remove(step.fault)
