"""A scenario run with Locust's own CLI: its faults applied from inside Locust, its
verdict in results.json and the exit code; with no scenario an ordinary locustfile."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from loadtests.scenarios import LLM_429_STORM
from tests.integration.locust_ui.conftest import (
    REPO_ROOT,
    UiStack,
    locust_command,
    locust_env,
)

pytestmark = pytest.mark.integration


def test_headless_scenario_applies_its_faults_and_exits_with_its_verdict(
    ui_stack: UiStack, tmp_path: Path
) -> None:
    # llm_429_storm: the fault goes through the fake LLM's control API (three_am's toxic is
    # the browser test's); 25 s at this scale
    argv = locust_command(
        "--headless",
        "--scenario",
        LLM_429_STORM.name,
        "--stack",
        str(ui_stack.stack_json),
        "--host",
        ui_stack.lb_url,
        "--only-summary",
    )
    proc = subprocess.run(
        argv, cwd=REPO_ROOT, env=locust_env(tmp_path), capture_output=True, text=True, timeout=240
    )
    [results] = list(tmp_path.glob("*-locust-llm_429_storm/results.json"))
    run = json.loads(results.read_text())
    [result] = run["results"]
    assert result["target"] == "refactored"
    names = [e["name"] for e in result["expectations"]]
    assert names == [t.name for t in LLM_429_STORM.thresholds]  # make load's checks, by name
    by_name = {e["name"]: e for e in result["expectations"]}
    assert by_name["faults_applied"]["observed"] == 1
    assert by_name["llm_429_seen"]["observed"] > 0  # the storm really happened
    assert [w["label"] for w in result["fault_windows"]] == ["LLM 429 storm (90 %)"]
    assert result["fault_windows"][0]["end_s"] is not None
    # the exit code is the verdict (make load's rule), whatever the verdict is
    expected_code = 0 if result["verdict"] in ("pass", "expected_fail") else 1
    assert proc.returncode == expected_code, proc.stderr[-3000:]
    # nothing left behind: the fake LLM answers without faults again
    llm = ui_stack.handle.targets["refactored"].fakes["llm"].control_url
    faults = httpx.get(f"{llm}/faults", timeout=5).json()
    assert not faults.get("error"), faults


def test_without_a_scenario_users_spawn_rate_and_run_time_work(
    ui_stack: UiStack, tmp_path: Path
) -> None:
    argv = locust_command(
        "--headless",
        "-u",
        "3",
        "-r",
        "3",
        "-t",
        "4s",
        "--host",
        ui_stack.lb_url,
        "--csv",
        str(tmp_path / "plain"),
    )
    # a scenario's shape would run far longer than this bound (and ignore -t)
    proc = subprocess.run(
        argv, cwd=REPO_ROOT, env=locust_env(tmp_path), capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no impact on LoadShapes" not in proc.stderr
    assert "Run time limit set to 4 seconds" in proc.stderr
    stats = (tmp_path / "plain_stats.csv").read_text()
    assert "POST /v1/conversations/end" in stats
    assert not list(tmp_path.glob("*-locust-*")), "an ordinary run is no scenario run"
