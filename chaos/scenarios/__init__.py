"""The chaos scenarios, one module each, and their registry.

A scenario is a fault schedule + bounded load + expectations per target
(:mod:`chaos.scenarios.scenario`; the engine that runs one is :mod:`chaos.scenarios.engine`,
its context :mod:`~chaos.scenarios.context`, what it measured
:mod:`~chaos.scenarios.measurements`, the checks it composes :mod:`~chaos.scenarios.checks`,
its faults :mod:`~chaos.scenarios.faults`). Add one: write ``chaos/scenarios/<name>.py`` defining
``SCENARIO = <YourScenario>()`` and list the module in ``SCENARIO_MODULES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from chaos.scenarios.scenario import Scenario

# The order is the run order: cheap and stateless first, the restarts-heavy ones later.
SCENARIO_MODULES: tuple[str, ...] = (
    "llm_latency",
    "llm_malformed",
    "idempotency_per_owner",
    "llm_429_storm",
    "llm_429_transient",
    "llm_down",
    "memory_api_down",
    "db_latency",
    "db_pool_exhaustion",
    "db_down",
    "broker_down",
    "timeout_ordering",
    "rate_limit_burst",
    "rate_limit_spoofed",
)


class UnknownScenarioError(ValueError):
    def __init__(self, unknown: Iterable[str]) -> None:
        names = ", ".join(sorted(unknown))
        super().__init__(f"unknown scenario(s): {names}. Valid: all, {', '.join(SCENARIO_MODULES)}")


def registry() -> dict[str, Scenario]:
    """name -> scenario, in run order."""
    out: dict[str, Scenario] = {}
    for module_name in SCENARIO_MODULES:
        module = importlib.import_module(f"chaos.scenarios.{module_name}")
        scenario: Scenario = module.SCENARIO
        if scenario.name != module_name:
            raise RuntimeError(f"chaos.scenarios.{module_name} defines scenario {scenario.name!r}")
        out[scenario.name] = scenario
    return out


def select(spec: str) -> list[Scenario]:
    """``all`` or a comma-separated list of names -> scenarios in run order."""
    scenarios = registry()
    wanted = [name.strip() for name in spec.split(",") if name.strip()]
    if not wanted:
        raise UnknownScenarioError(["(empty)"])
    if wanted == ["all"]:
        return list(scenarios.values())
    unknown = [name for name in wanted if name not in scenarios]
    if unknown:
        raise UnknownScenarioError(unknown)
    return [s for name, s in scenarios.items() if name in wanted]
