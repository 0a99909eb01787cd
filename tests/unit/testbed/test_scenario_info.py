"""One scenario model where the engines mean the same thing: every chaos and load scenario
is a testbed.scenario_info.ScenarioInfo (name, description, legacy expected to fail)."""

from __future__ import annotations

import pytest

from chaos.scenarios import registry
from loadtests.scenarios import SCENARIOS
from testbed.scenario_info import ScenarioInfo

pytestmark = pytest.mark.unit


def test_every_scenario_of_both_engines_is_a_scenario_info() -> None:
    scenarios = [*registry().values(), *SCENARIOS.values()]
    assert all(isinstance(s, ScenarioInfo) for s in scenarios)
    for s in scenarios:
        assert s.name and s.description, s
        assert s.summary() == f"{s.name}: {s.description}"
        # the incident's failure is legacy's expected outcome in every scenario today
        assert s.expected_to_fail("legacy") and not s.expected_to_fail("refactored")
