"""What a chaos scenario is: a fault schedule + bounded load + expectations per target.

A :class:`Scenario` subclass says *what* happens (its fault steps, its load plan, how long)
and *what must hold* (``evaluate``: measured numbers -> expectations). The engine
(``chaos.scenarios.engine``) does the *how* once for all of them.

The same resilience expectations run on both targets (docs/conventions.md section 13);
legacy is marked ``expected_to_fail`` where the incident's failure is the expected outcome.
"""

from __future__ import annotations

from typing import ClassVar

from chaos.load_plan import LoadPlan
from chaos.loadgen import LoadGenerator
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.engine import run_scenario
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation, ScenarioResult
from testbed.scenario_info import ScenarioInfo


class Scenario(ScenarioInfo):
    """Base class: subclasses set what every scenario has as class attributes (``name``,
    ``description``, ``legacy_expected_to_fail``: ``testbed.scenario_info.ScenarioInfo``) and
    implement the hooks that raise NotImplementedError (faults, plan, timeline, evaluate)."""

    # targets whose service keeps state after this scenario (open breakers, a rate-limit
    # window, dead pooled DB connections): the runner restarts it before the next scenario
    restart_after: ClassVar[tuple[str, ...]] = ("legacy", "refactored")
    needs_amqp: ClassVar[bool] = False

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        raise NotImplementedError

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        raise NotImplementedError

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        """Baseline, fault window and recovery on the scenario's clock."""
        raise NotImplementedError

    def duration_s(self, ctx: ScenarioContext) -> float:
        return self.timeline(ctx).end_s

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        raise NotImplementedError

    # optional hooks
    async def prepare(self, ctx: ScenarioContext) -> None:
        """Before the clock starts (seed data, bind a queue...)."""

    async def during_load(self, ctx: ScenarioContext, gen: LoadGenerator) -> None:
        """Runs concurrently with the load (e.g. trigger the nightly job)."""

    async def finish(self, ctx: ScenarioContext, m: Measurements) -> None:
        """After the load and the faults (e.g. wait for events to drain)."""

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        """Sanity checks that the fault *bit*: its effect measured outside the target (calls
        or answers the fakes saw, latency the client saw, events the broker delivered...)
        during the fault window (``chaos.scenarios.effects``). A fault the injector confirmed
        but that changed nothing makes the run ``invalid``, never ``pass``. Every scenario
        with fault steps overrides this; one that does not is invalid."""
        if not self.faults(ctx):
            return []
        return [
            Expectation.check(
                "fault_effect_declared",
                f"{self.name} names no check of its fault's effect (Scenario.fault_effect)",
                None,
                "==",
                1,
                role="sanity",
            )
        ]

    def expectations(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        """What the engine judges: the scenario's expectations, then its fault's effect."""
        return [*self.evaluate(ctx, m), *self.fault_effect(ctx, m)]

    def request_timeout_s(self, ctx: ScenarioContext) -> float:
        # longer than the load balancer's timeout: a request the LB cuts shows up as its 504
        return ctx.lb_timeout_s * 1.5 + 2.0

    async def run(self, ctx: ScenarioContext) -> ScenarioResult:
        """Prepare, run load and faults on one clock, measure, evaluate
        (``chaos.scenarios.engine``)."""
        return await run_scenario(self, ctx)
