"""The one fault driver: applies a scenario's faults at their marks and clears them.

``make load`` (harness.loadrun, beside the Locust process) and a run started from Locust
itself (loadtests.locust_plugin, on the master, from Locust's test_start/test_stop events)
drive the same :class:`FaultSchedule` with the same :class:`FaultDriver`, so a scenario's
faults and their fault windows are the same however it is started. Inside Locust the
process is gevent-patched: the blocking calls and the nightly job's thread cooperate.
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

from loadtests.endpoints import TargetEndpoints
from loadtests.model import Fault, Scenario, scaled, scaled_fault_params
from testbed.fakes import FakeControl
from testbed.toxiproxy_admin import ToxiproxyAdmin

Action = Literal["apply", "remove"]
# the fake whose control API takes a fault of this kind (TargetEndpoints' attribute)
FAKE_OF = {"llm_faults": "llm_control_url", "memory_faults": "memory_control_url"}


class FaultError(RuntimeError):
    """A fault could not be applied (the target lacks the injector it needs)."""


def toxic_name(label: str) -> str:
    """The Toxiproxy toxic's name for a fault (``load_`` + the label as a slug)."""
    return "load_" + re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


class FaultDriver:
    """Applies a scenario's faults to one target and remembers when (fault windows)."""

    def __init__(self, target: TargetEndpoints, time_scale: float, started_at: float) -> None:
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
        self._active: list[tuple[Fault, dict[str, Any]]] = []
        self._threads: list[threading.Thread] = []

    @property
    def active_labels(self) -> list[str]:
        return [fault.label for fault, _window in self._active]

    def _since_start(self) -> float:
        return round(time.time() - self.started_at, 3)

    def apply(self, fault: Fault) -> None:
        params = scaled_fault_params(fault, self.time_scale)
        window = {"label": fault.label, "start_s": self._since_start(), "end_s": None}
        try:
            if fault.kind == "toxic":
                self._add_toxic(fault, params)
            elif fault.kind in FAKE_OF:
                control = self._fake(fault)
                try:
                    control.set_faults(params["config"])
                finally:
                    control.close()
            elif fault.kind == "nightly":
                self._start_nightly(window)
        except (httpx.HTTPError, FaultError) as exc:
            self.notes.append(f"fault {fault.label!r} could not be applied: {exc}")
            return
        self.applied += 1
        self.windows.append(window)
        if fault.kind != "nightly":
            self._active.append((fault, window))

    def remove(self, fault: Fault) -> None:
        for active, window in list(self._active):
            if active is fault:
                self._clear(active)
                window["end_s"] = self._since_start()
                self._active.remove((active, window))

    def remove_all(self) -> None:
        """Clear every fault still applied (the run ended, was stopped or failed)."""
        for fault, window in list(self._active):
            with contextlib.suppress(Exception):
                self._clear(fault)
            window["end_s"] = window["end_s"] or self._since_start()
        self._active.clear()

    def wait_background(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout=timeout)

    def _toxiproxy(self) -> ToxiproxyAdmin:
        if not self.target.toxiproxy_url:
            raise FaultError(f"target {self.target.name} has no toxiproxy_url")
        return ToxiproxyAdmin(self.target.toxiproxy_url, self.target.proxies)

    def _fake(self, fault: Fault) -> FakeControl:
        url = getattr(self.target, FAKE_OF[fault.kind])
        if not url:
            raise FaultError(f"target {self.target.name} has no {FAKE_OF[fault.kind]}")
        return FakeControl(url)

    def _add_toxic(self, fault: Fault, params: dict[str, Any]) -> None:
        with self._toxiproxy() as toxiproxy:
            toxiproxy.add_toxic(
                params["proxy"],
                toxic_name(fault.label),
                params.get("type", "latency"),
                params.get("attributes", {}),
                stream=params.get("stream", "downstream"),
                toxicity=params.get("toxicity", 1.0),
            )

    def _clear(self, fault: Fault) -> None:
        if fault.kind == "toxic":
            with self._toxiproxy() as toxiproxy:  # already gone is fine
                toxiproxy.remove_toxic(fault.params["proxy"], toxic_name(fault.label))
        elif fault.kind in FAKE_OF:
            control = self._fake(fault)
            try:
                control.clear_faults()
            finally:
                control.close()

    def _start_nightly(self, window: dict[str, Any]) -> None:
        """Fire the nightly job straight at the service (not through the LB, which would give
        up on it) in the background: on legacy it blocks a worker, which is the point."""
        url = f"{self.target.service_url}/v1/admin/nightly"
        headers = {"Authorization": f"Bearer {self.target.admin_token or ''}"}

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
    fault: Fault


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
