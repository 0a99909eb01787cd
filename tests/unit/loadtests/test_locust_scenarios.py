"""Scenarios inside Locust: the fault schedule and driver, the shapes, the stack file, the
verdict tab's rows (the real runs are tests/integration/locust_ui)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import respx

from loadtests.faults import FaultDriver, drive_schedule, fault_schedule, toxic_name
from loadtests.model import DEFAULT_MIX
from loadtests.scenarios import LLM_429_STORM, SCENARIOS, THREE_AM
from loadtests.session import Session, shapes_requested
from loadtests.stack_file import StackFileError, read_stack_file, target_in
from loadtests.verdict_view import verdict_rows
from testbed.results import Expectation, ScenarioResult
from testbed.stack_info import NoStackError
from testbed.target import FakeInfo, TargetInfo

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[3]
TOXIPROXY = "http://127.0.0.1:1"
TARGET = TargetInfo(
    name="refactored",
    lb_url="http://127.0.0.1:2",
    service_url="http://127.0.0.1:3",
    metrics_url=None,
    database_url="postgresql://x/y",
    admin_token="t",
    toxiproxy_url=TOXIPROXY,
    toxiproxy_kind="embedded",
    proxies={"llm": "refactored_llm"},
    fakes={"llm": FakeInfo("http://127.0.0.1:4", "http://127.0.0.1:4/_control")},
    lb_timeout_s=6.5,
    app_timeout_s=5.5,
    gunicorn_timeout_s=6,
    env={},
)


def test_the_schedule_applies_and_removes_at_the_scaled_marks() -> None:
    schedule = fault_schedule(THREE_AM, 0.1, total_s=90.0)
    assert [(round(a.at_s, 3), a.action, a.fault.label) for a in schedule] == [
        (20.0, "apply", "nightly job"),
        (20.0, "apply", "LLM +90 s latency"),
        (60.0, "remove", "LLM +90 s latency"),
    ]
    # a shortened run leaves out what falls past its end
    assert [a.action for a in fault_schedule(THREE_AM, 0.1, total_s=50.0)] == ["apply", "apply"]


class RecordingDriver(FaultDriver):
    def __init__(self) -> None:
        super().__init__(TARGET, 0.1, time.time())
        self.calls: list[tuple[str, str]] = []

    def apply(self, fault: Any) -> None:
        self.calls.append(("apply", fault.label))

    def remove(self, fault: Any) -> None:
        self.calls.append(("remove", fault.label))


def test_the_schedule_stops_when_the_run_is_over() -> None:
    driver = RecordingDriver()
    schedule = fault_schedule(LLM_429_STORM, 0.0001, total_s=1.0)  # marks within 40 ms
    drive_schedule(driver, schedule, alive=lambda: True, tick_s=0.001)
    assert driver.calls == [("apply", "LLM 429 storm (90 %)"), ("remove", "LLM 429 storm (90 %)")]
    stopped = RecordingDriver()
    drive_schedule(stopped, schedule, alive=lambda: False)
    assert stopped.calls == []


@respx.mock
def test_the_driver_sets_the_toxic_on_the_targets_proxy_and_clears_it_at_the_end() -> None:
    name = toxic_name(THREE_AM.faults[1].label)
    added = respx.post(f"{TOXIPROXY}/proxies/refactored_llm/toxics").mock(
        return_value=httpx.Response(200, json={"name": name})
    )
    removed = respx.delete(f"{TOXIPROXY}/proxies/refactored_llm/toxics/{name}").mock(
        return_value=httpx.Response(204)
    )
    # the injector reads the fault back (testbed.faults): the toxic is there
    respx.get(f"{TOXIPROXY}/proxies/refactored_llm").mock(
        return_value=httpx.Response(200, json={"toxics": [{"name": name}]})
    )
    driver = FaultDriver(TARGET, 0.1, time.time())
    driver.apply(THREE_AM.faults[1])
    assert json.loads(added.calls.last.request.content)["attributes"] == {"latency": 9000}
    assert driver.active_labels == ["LLM +90 s latency"] and driver.applied == 1
    driver.remove_all()  # the test stopped early: what it set is cleared
    assert removed.called and driver.active_labels == []
    assert driver.windows[0]["end_s"] is not None


@respx.mock
def test_a_refused_fault_is_a_note_not_a_crash() -> None:
    respx.put("http://127.0.0.1:4/_control/faults").mock(
        return_value=httpx.Response(422, json={"detail": "invalid fault config"})
    )
    driver = FaultDriver(TARGET, 0.1, time.time())
    driver.apply(LLM_429_STORM.faults[0])
    assert driver.applied == 0 and "could not be applied" in driver.notes[0]


@respx.mock
def test_a_fault_not_read_back_active_is_not_counted_as_applied() -> None:
    respx.put("http://127.0.0.1:4/_control/faults").mock(
        return_value=httpx.Response(200, json={})  # the fake echoes no active fault
    )
    cleared = respx.delete("http://127.0.0.1:4/_control/faults").mock(
        return_value=httpx.Response(200, json={})
    )
    driver = FaultDriver(TARGET, 0.1, time.time())
    driver.apply(LLM_429_STORM.faults[0])
    assert driver.applied == 0 and "not active when read back" in driver.notes[0]
    driver.remove_all()
    assert cleared.called  # cleared anyway


def test_a_driver_without_a_target_applies_nothing_and_says_so() -> None:
    driver = FaultDriver(None, 0.1, time.time())
    for scheduled in THREE_AM.faults:
        driver.apply(scheduled)
    assert driver.applied == 0 and driver.nightly_started == 0 and len(driver.notes) == 2


@pytest.mark.parametrize(
    ("argv", "env", "wanted"),
    [
        (["locust", "-f", "x.py", "-u", "3"], {}, False),
        (["locust", "--class-picker"], {}, True),
        (["locust", "--scenario", "three_am"], {}, True),
        (["locust", "--scenario=three_am"], {}, True),
        (["locust"], {"LOADTEST_SCENARIO": "llm_slow"}, True),
        (["locust"], {"LOCUST_CLASS_PICKER": "true"}, True),
    ],
)
def test_shapes_are_shown_to_locust_only_when_asked_for(
    argv: list[str], env: dict[str, str], wanted: bool
) -> None:
    assert shapes_requested(argv, env) is wanted


# Importing Locust monkey-patches the process (gevent): the shapes are checked in a child.
SHAPES_PROBE = """
import json
from loadtests.scenarios import SCENARIOS
from loadtests.session import Session
from loadtests.shapes import SCENARIO_SHAPES
from loadtests.users import USER_CLASSES

Session.time_scale = 0.1
shape = SCENARIO_SHAPES["three_am"]()
shape.reset_time()  # Locust calls it when the shape starts
users, rate, classes = shape.tick()
shape.start_time -= 91.0  # past three_am's 90 s at 0.1
burst = SCENARIO_SHAPES["rate_limit_burst"]()
burst.reset_time()
print(json.dumps({
    "names": {n: c.__name__ for n, c in SCENARIO_SHAPES.items()},
    "first": [users, rate, sorted(c.__name__ for c in classes)],
    "after_end": shape.tick(),
    "burster": USER_CLASSES["Burster"].active_windows,
}))
"""


def test_one_shape_per_scenario_following_its_scaled_stages() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SHAPES_PROBE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    assert probe["names"] == {name: name for name in SCENARIOS}  # the class picker's names
    assert probe["first"] == [12, 10.0, sorted(DEFAULT_MIX)]
    assert probe["after_end"] is None  # the shape ends the test
    # the burster works only in rate_limit_burst's middle stage (100..300 s x 0.1)
    assert probe["burster"] == [[10.0, 30.0]]


def _stack_file(tmp_path: Path) -> Path:
    from testbed.stack_info import SCHEMA_VERSION

    target = {
        "lb_url": "http://127.0.0.1:5",
        "service_url": "http://127.0.0.1:6",
        "metrics_url": None,
        "database_url": "postgresql://x",
        "admin_token": "t",
        "toxiproxy_url": TOXIPROXY,
        "toxiproxy_kind": "embedded",
        "proxies": {"llm": "llm"},
        "fakes": {
            "llm": {"url": "http://127.0.0.1:4", "control_url": "http://127.0.0.1:4/_control"}
        },
        "lb_timeout_s": 6.5,
        "app_timeout_s": 5.5,
        "gunicorn_timeout_s": 6,
        "env": {},
    }
    data = {
        "schema_version": SCHEMA_VERSION,
        "started_at": "now",
        "supervisor_pid": 1,
        "time_scale": 0.1,
        "workers": 2,
        "log_dir": str(tmp_path / "logs"),
        "database": {},
        "amqp_url": None,
        "targets": {"refactored": target},
    }
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(data))
    return path


def test_the_stack_file_gives_the_targets_injectors(tmp_path: Path) -> None:
    path = _stack_file(tmp_path)
    info = read_stack_file(path)
    target = target_in(info, "refactored", path)
    assert target.name == "refactored" and target.toxiproxy_url == TOXIPROXY
    assert target.fakes["llm"].control_url == "http://127.0.0.1:4/_control"
    assert info.log_dir == str(tmp_path / "logs")  # worker timeouts are counted there


def test_a_wrong_target_or_no_stack_says_what_to_do(tmp_path: Path) -> None:
    path = _stack_file(tmp_path)
    with pytest.raises(StackFileError, match="no target 'legacy'; it has: refactored"):
        target_in(read_stack_file(path), "legacy", path)
    with pytest.raises(NoStackError, match="run make up"):
        read_stack_file(tmp_path / "missing.json")


def test_the_verdict_tab_shows_each_threshold_of_the_last_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(Session, "current", None)
    monkeypatch.setattr(Session, "last", None)
    assert verdict_rows()[0]["check"] == "no scenario run yet"
    # what the view reads of a loadtests.locust_run.ScenarioRun (that module imports Locust)
    run = SimpleNamespace(
        scenario=THREE_AM, target=TARGET, out_dir=tmp_path, driver=None, result=None,
        error=None, stopped=False,
    )  # fmt: skip
    monkeypatch.setattr(Session, "last", run)
    assert verdict_rows()[0]["outcome"] == "running"
    broken = Expectation.check("no_lb_504", "no LB 504", 45, "==", 0)
    run.result = ScenarioResult(
        target="legacy",
        scenario="three_am",
        kind="locust",
        started_at="now",
        duration_s=90.0,
        expectations=[broken],
        expected_to_fail=True,
        extra={"lb_504_count": 45},
    )
    head, row = verdict_rows()
    assert head["outcome"] == "expected_fail" and head["limit"] == "LB 504s: 45"
    assert row == {
        "check": "no_lb_504",
        "role": "resilience",
        "observed": "45",
        "limit": "== 0",
        "outcome": "broken",
    }


# the plugin imports Locust (gevent's monkey-patching): its time scale is checked in a child
TIME_SCALE_PROBE = """
import json, os, sys
from types import SimpleNamespace
from loadtests.locust_plugin import time_scale

stack = sys.argv[1]
def scale(given, stack_path, env):
    os.environ.pop("TIME_SCALE", None)
    os.environ.update(env)
    return time_scale(SimpleNamespace(time_scale=given, stack=stack_path))
print(json.dumps([
    scale(0.5, stack, {"TIME_SCALE": "0.2"}),  # --time-scale wins
    scale(None, stack, {"TIME_SCALE": "0.2"}),  # then $TIME_SCALE
    scale(None, stack, {}),  # then the stack's (0.25 in the file)
    scale(None, "", {}),  # then the one default (no stack: .stack/stack.json is absent here)
]))
"""


def test_the_scenarios_time_scale_option_env_stack_then_the_one_default(tmp_path: Path) -> None:
    from testbed.settings import DEFAULT_TIME_SCALE

    stack = _stack_file(tmp_path)
    data = json.loads(stack.read_text())
    data["time_scale"] = 0.25
    stack.write_text(json.dumps(data))
    proc = subprocess.run(
        [sys.executable, "-c", TIME_SCALE_PROBE, str(stack)],
        cwd=tmp_path,  # no .stack/stack.json here
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [0.5, 0.2, 0.25, DEFAULT_TIME_SCALE]
