"""The harness's copies of the services' names and numbers equal the services' own.

The harness never imports a service (import-linter), so it keeps the policy names and
the app deadline in testbed/; these tests are where the two meet and must agree.
"""

from __future__ import annotations

import pytest

from refactored.core.settings import Policy, Settings
from testbed.policies import POLICIES, disabled_policies
from testbed.target import configured_app_deadline_s
from testbed.timeouts import APP_DEADLINE_S, LLM_TIMEOUT_S

pytestmark = pytest.mark.unit  # (was unmarked: make test-unit's -m unit never ran these)


def test_harness_policies_are_refactoreds_policy_enum_in_order() -> None:
    assert tuple(p.value for p in Policy) == POLICIES


def test_harness_app_deadline_and_llm_timeout_are_refactoreds_defaults() -> None:
    fields = Settings.model_fields
    assert fields["request_deadline_s"].default == APP_DEADLINE_S
    assert fields["llm_timeout_s"].default == LLM_TIMEOUT_S


def test_ablation_reads_the_one_policy_list() -> None:
    from harness import ablation

    assert ablation.POLICIES is POLICIES


def test_disabled_policies_of_an_environment() -> None:
    assert disabled_policies({"RESILIENCE_DISABLE": " retry, timeouts ,"}) == {"retry", "timeouts"}
    assert disabled_policies({}) == frozenset()


def test_app_deadline_from_the_service_environment() -> None:
    assert configured_app_deadline_s("legacy", {"TIME_SCALE": "0.1"}) is None
    assert configured_app_deadline_s("refactored", {"TIME_SCALE": "0.1"}) == APP_DEADLINE_S * 0.1
    env = {"TIME_SCALE": "0.5", "REQUEST_DEADLINE_S": "20"}
    assert configured_app_deadline_s("refactored", env) == 10.0
    off = {"TIME_SCALE": "0.1", "RESILIENCE_DISABLE": "retry,timeouts"}
    assert configured_app_deadline_s("refactored", off) is None


HARNESS_SETTINGS = ("TIME_SCALE", "TARGET", "STACK_WORKERS", "REPORTS_DIR")


def test_the_harness_reads_its_own_settings_only_through_testbed_settings() -> None:
    """One default each: no module of the harness reads TIME_SCALE, TARGET, STACK_WORKERS or
    REPORTS_DIR from the environment itself (testbed.settings.harness_settings does; the
    services' settings and a judged deployment's env passed as a dict are theirs)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    names = "|".join(HARNESS_SETTINGS)
    direct = re.compile(rf"(environ\.get\(|environ\[|getenv\()\s*[\"']({names})[\"']")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for package in ("harness", "chaos", "loadtests", "testbed")
        for path in sorted((root / package).rglob("*.py"))
        if path.name != "settings.py" or path.parent.name != "testbed"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line)
    ]
    assert offenders == []
