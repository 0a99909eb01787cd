"""One refactored stack for the module, its stack.json as ``make up`` writes it, and a
helper that runs ``locust -f loadtests/locustfile.py`` the way its users do.

The stack runs at TIME_SCALE 0.05 (LB 3.75 s): three_am's LLM latency (90 s x 0.05 =
4.5 s) still outlasts the LB, so the faults are the incident's, in 45 s instead of 90.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.loadsuite import StackHandle, booted_stack

TIME_SCALE = 0.05
REPO_ROOT = Path(__file__).resolve().parents[3]
LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"


@dataclass(frozen=True)
class UiStack:
    handle: StackHandle
    stack_json: Path
    lb_url: str
    toxiproxy_url: str


@pytest.fixture(scope="module")
def ui_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    root = tmp_path_factory.mktemp("locust-ui-stack")
    with booted_stack(("refactored",), TIME_SCALE, 2, root / "logs") as handle:
        stack_json = root / "stack.json"
        handle.info.write(stack_json)
        target = handle.targets["refactored"]
        assert target.toxiproxy_url
        yield UiStack(handle, stack_json, target.lb_url, target.toxiproxy_url)


def locust_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]


def locust_env(reports: Path) -> dict[str, str]:
    """The environment a user's shell would have, with the run's reports kept apart."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    env.pop("TIME_SCALE", None)  # the scale comes from the stack file, as after make up
    env["REPORTS_DIR"] = str(reports)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env
