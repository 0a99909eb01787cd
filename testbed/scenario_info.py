"""What a scenario is to everything but the engine that runs it, for chaos and load alike.

A chaos scenario (``chaos.scenarios.scenario.Scenario``) and a load scenario
(``loadtests.model.Scenario``) are both a :class:`ScenarioInfo`: a name, a description and
whether legacy is expected to fail it (the incident's failure being the expected outcome,
docs/conventions.md section 13). That is all the results (``testbed.results``), the
registries, the console and ``harness ... --list``/``--help`` read of a scenario; a fault in
either is the one fault model, :data:`testbed.faults.Fault`.

Why the rest is not shared: it genuinely differs. A chaos scenario is a class whose hooks
build its fault windows, load plan and checks from the booted target (its timeouts, its
seeded data) when it runs; a load scenario is frozen data in production time (Locust stages,
scheduled faults, k6-style thresholds over Locust's samples), the same before any stack
exists, so Locust can list it as a shape. Each engine keeps only what is its own.
"""

from __future__ import annotations


class ScenarioInfo:
    """A scenario's name, description and expected outcome on legacy (see the module)."""

    name: str
    description: str
    # legacy: the incident's failure is the expected outcome (testbed.results verdicts)
    legacy_expected_to_fail: bool = True

    def expected_to_fail(self, target: str) -> bool:
        return target == "legacy" and self.legacy_expected_to_fail

    def summary(self) -> str:
        """``name: description`` (a listing's line)."""
        return f"{self.name}: {self.description}"
