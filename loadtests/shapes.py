"""Locust load shapes: one per scenario (picked in Locust's UI or with ``--scenario``), and
the harness's shape that follows stages given as data.

Each scenario of :mod:`loadtests.scenarios` becomes a shape class named after it
(``three_am``, ``llm_slow``...), so Locust's ``--class-picker`` lists the scenarios by
their names. A shape's stages are scaled when the test starts (the time scale is known
only once Locust has parsed its options, after it instantiated the shapes).
"""

from __future__ import annotations

import json
import os
from typing import ClassVar

from locust import LoadTestShape

from loadtests.model import ScaledStage, Scenario, scaled_stages, stage_at
from loadtests.scenarios import SCENARIOS
from loadtests.session import Session
from loadtests.users import USER_CLASSES


def gate_user_classes(stages: list[ScaledStage]) -> list[str]:
    """The user classes of any stage, each told when it works.

    Every class of any stage is dispatched from the start (Locust does not add a
    fixed_count class that appears in a later stage); a class missing from some stages
    works only inside the stages that list it (ContextServiceUser.active)."""
    names = sorted({name for stage in stages for name in stage.classes})
    for name in names:
        windows = tuple((st.start_s, st.end_s) for st in stages if name in st.classes)
        USER_CLASSES[name].active_windows = None if len(windows) == len(stages) else windows
    return names


class StagedShape(LoadTestShape):
    """Follows ``self.stages``; returning None after the last stage ends the test."""

    abstract = True
    stages: list[ScaledStage]
    class_names: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.stages, self.class_names = [], []

    def plan(self) -> list[ScaledStage]:
        raise NotImplementedError

    def reset_time(self) -> None:
        super().reset_time()
        self.stages = self.plan()
        self.class_names = gate_user_classes(self.stages)

    def tick(self) -> tuple[int, float, list[type]] | None:
        stage = stage_at(self.stages, self.get_run_time())
        if stage is None:
            return None
        return stage.users, stage.spawn_rate, [USER_CLASSES[n] for n in self.class_names]


class ScenarioShape(StagedShape):
    """A scenario's stages at the process's time scale (Session.time_scale)."""

    abstract = True
    scenario: ClassVar[Scenario]

    def plan(self) -> list[ScaledStage]:
        return scaled_stages(self.scenario, Session.time_scale)


def _shape_for(scenario: Scenario) -> type[ScenarioShape]:
    return type(
        scenario.name,
        (ScenarioShape,),
        {"scenario": scenario, "abstract": False, "__doc__": scenario.description},
    )


# one shape class per scenario, named like it (Locust's class picker shows these names)
SCENARIO_SHAPES: dict[str, type[ScenarioShape]] = {n: _shape_for(s) for n, s in SCENARIOS.items()}


def stages_from_env() -> list[ScaledStage] | None:
    """``LOADTEST_STAGES`` (the harness's protocol: a JSON list of scaled stages), if set."""
    raw = os.environ.get("LOADTEST_STAGES")
    if not raw:
        return None
    return [ScaledStage(**{**s, "classes": tuple(s["classes"])}) for s in json.loads(raw)]


class HarnessStagesShape(StagedShape):
    """The stages ``make load``, the ablation and the bench pass in ``LOADTEST_STAGES``
    (their faults are driven beside Locust by harness.loadrun). Selectable only when the
    variable is set."""

    abstract = "LOADTEST_STAGES" not in os.environ

    def plan(self) -> list[ScaledStage]:
        return stages_from_env() or []
