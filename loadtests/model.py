"""The data a load scenario is made of: stages, faults and thresholds.

Every duration is a *production* value in seconds; :func:`scaled` multiplies it
by ``TIME_SCALE`` (and an optional duration factor the ablation uses to keep
its matrix short), like the services do with their timeouts, so the ordering
of stage lengths, fault latencies and timeouts is the same at every scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from testbed.faults import Fault, scaled_fault
from testbed.results import Expectation, Op, Role
from testbed.scenario_info import ScenarioInfo

# The production timeouts of docs/conventions.md §11 (seconds), the yardsticks of the
# thresholds: one source, testbed.timeouts (re-exported for the scenarios).
from testbed.timeouts import APP_DEADLINE_S as APP_DEADLINE_S
from testbed.timeouts import LB_TIMEOUT_S as LB_TIMEOUT_S
from testbed.timeouts import LLM_TIMEOUT_S as LLM_TIMEOUT_S

MIN_RATE_SAMPLES = 5  # a rate over fewer requests proves nothing

# The default evening-to-night mix (user class names of loadtests.users).
DEFAULT_MIX = ("ConversationEnder", "FriendshipReader", "ActivitySuggester", "HealthProber")


@dataclass(frozen=True)
class Stage:
    """Hold ``users`` simulated users of ``classes`` for ``duration_s`` (production seconds)."""

    name: str
    duration_s: float
    users: int
    spawn_rate: float = 10.0
    classes: tuple[str, ...] = DEFAULT_MIX


@dataclass(frozen=True)
class NightlyRun:
    """``POST /v1/admin/nightly`` with the target's admin token, straight at the service (one
    shot, never withdrawn). Not a fault of a dependency (:mod:`testbed.faults`): the
    incident's own job, scheduled beside the faults because the incident is both."""


@dataclass(frozen=True)
class ScheduledFault:
    """A fault of the one fault model (:data:`testbed.faults.Fault`: a toxic, a proxy down,
    a fake's faults), or the nightly job, applied ``start_s`` production seconds into the
    run and withdrawn at ``end_s`` (None: at the end of the run).

    Its latencies are production milliseconds, scaled by ``TIME_SCALE`` when it is applied
    (:func:`testbed.faults.scaled_fault`); ``scale=False`` keeps them absolute (the bench's
    fixed 200 ms).
    """

    label: str
    fault: Fault | NightlyRun
    start_s: float
    end_s: float | None = None
    scale: bool = True

    def at_scale(self, time_scale: float) -> Fault | NightlyRun:
        """What is injected at ``time_scale``."""
        if isinstance(self.fault, NightlyRun) or not self.scale:
            return self.fault
        return scaled_fault(self.fault, time_scale)


@dataclass(frozen=True)
class Threshold:
    """A k6-style threshold: ``metric op value`` must hold, else the run names it and fails.

    ``scaled``: ``value`` is a production duration and is multiplied by TIME_SCALE.
    ``per_duration``: ``value`` is a count for the full-length scenario; a shortened run
    (the ablation's duration factor) expects proportionally fewer.
    ``metric`` is a key of :func:`loadtests.metrics.compute_metrics`'s result. A rate
    (``*_rate``, ``*_fraction``) is judged only over at least ``min_samples`` requests (its
    ``<metric>_samples``): fewer fail the threshold as not judged, never a vacuous 0 or 1.
    """

    name: str
    metric: str
    op: Op
    value: float
    description: str
    unit: str = ""
    role: Role = "resilience"
    scaled: bool = False
    per_duration: bool = False
    min_samples: int = MIN_RATE_SAMPLES

    def threshold_value(self, time_scale: float, duration_factor: float = 1.0) -> float:
        value = self.value * time_scale if self.scaled else self.value
        return math.floor(value * duration_factor) if self.per_duration else value

    def evaluate(
        self,
        metrics: Mapping[str, float | None],
        time_scale: float,
        duration_factor: float = 1.0,
    ) -> Expectation:
        observed = metrics.get(self.metric)
        samples = metrics.get(f"{self.metric}_samples")
        return Expectation.check(
            self.name,
            self.description,
            observed,
            self.op,
            self.threshold_value(time_scale, duration_factor),
            unit=self.unit,
            role=self.role,
            samples=None if samples is None else int(samples),
            min_samples=self.min_samples if samples is not None else 0,
        )


@dataclass(frozen=True)
class Scenario(ScenarioInfo):
    """A load scenario: what every scenario is (:class:`testbed.scenario_info.ScenarioInfo`:
    name, description, legacy expected to fail) plus its own data: Locust stages, scheduled
    faults and thresholds, in production time."""

    name: str
    description: str
    stages: tuple[Stage, ...]
    faults: tuple[ScheduledFault, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    legacy_expected_to_fail: bool = True

    @property
    def duration_s(self) -> float:
        return sum(stage.duration_s for stage in self.stages)

    def stage_marks(self) -> list[tuple[float, Stage]]:
        """``(start_s, stage)`` for each stage, production seconds."""
        marks, t = [], 0.0
        for stage in self.stages:
            marks.append((t, stage))
            t += stage.duration_s
        return marks


def scaled(seconds: float, time_scale: float, factor: float = 1.0) -> float:
    return seconds * time_scale * factor


@dataclass(frozen=True)
class ScaledStage:
    name: str
    start_s: float
    end_s: float
    users: int
    spawn_rate: float
    classes: tuple[str, ...]


def scaled_stages(scenario: Scenario, time_scale: float, factor: float = 1.0) -> list[ScaledStage]:
    """The stages in wall-clock seconds at this scale (what the LoadTestShape follows)."""
    out, t = [], 0.0
    for stage in scenario.stages:
        length = scaled(stage.duration_s, time_scale, factor)
        out.append(
            ScaledStage(stage.name, t, t + length, stage.users, stage.spawn_rate, stage.classes)
        )
        t += length
    return out


def stage_at(stages: list[ScaledStage], run_time_s: float) -> ScaledStage | None:
    """The stage active at ``run_time_s``; None once the last stage is over (stop the test)."""
    for stage in stages:
        if stage.start_s <= run_time_s < stage.end_s:
            return stage
    return None
