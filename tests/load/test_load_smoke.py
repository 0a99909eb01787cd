"""Locust against the real stack (marker ``load``): the 3am incident, every other shape,
distributed mode.

One stack (both targets, TIME_SCALE=0.1) for the module; ``three_am`` runs on both
targets side by side (~90 s), every other scenario once on refactored shortened to 15 %
(a smoke: its stages run, its faults apply, its load is valid), then a short Locust run
with ``--processes 2``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.loadrun import RunOptions, run_locust_on_target, to_scenario_result
from harness.loadsuite import StackHandle, booted_stack, run_on_targets
from loadtests.metrics import SAMPLES_GLOB, read_samples
from loadtests.model import ScaledStage, Scenario
from loadtests.scenarios import SCENARIOS, THREE_AM
from testbed.results import RunResults, now_iso, write_results

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.timeout(420)]

TIME_SCALE = 0.1


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    log_dir = tmp_path_factory.mktemp("stack-logs")
    with booted_stack(("legacy", "refactored"), TIME_SCALE, 2, log_dir) as handle:
        yield handle


def test_three_am_legacy_shows_lb_504s_refactored_none(stack: StackHandle, tmp_path: Path) -> None:
    options = RunOptions(time_scale=TIME_SCALE, run_id=tmp_path.name)
    raws = run_on_targets(stack, THREE_AM, tmp_path, options)
    legacy = to_scenario_result(raws["legacy"], TIME_SCALE)
    refactored = to_scenario_result(raws["refactored"], TIME_SCALE)
    run = RunResults(tmp_path.name, "load", now_iso(), TIME_SCALE, results=[legacy, refactored])
    write_results(run, tmp_path, update_latest=False)

    assert legacy.sane and refactored.sane, [e.describe() for e in legacy.expectations]
    assert legacy.extra["lb_504_count"] >= 1, legacy.status_counts
    assert legacy.extra["metrics"]["worker_timeouts"] >= 1  # blocked workers were killed
    assert legacy.verdict == "expected_fail"
    assert refactored.extra["lb_504_count"] == 0, refactored.status_counts
    assert refactored.verdict == "pass", [e.describe() for e in refactored.failed_expectations()]
    # the run as `make load` judges it: legacy still fails (no lost difference), so it passes
    assert run.passed and run.lost_differences() == []
    # the 504s appear after the 03:00 mark and are gone in the recovery
    assert legacy.extra["metrics"]["first_lb_504_s"] >= legacy.fault_windows[0]["start_s"]
    assert legacy.extra["metrics"]["recovery_lb_504_count"] == 0
    for target in ("legacy", "refactored"):
        assert (tmp_path / target / "three_am" / "locust_stats.csv").exists()
        assert (tmp_path / target / "three_am" / "locust.html").exists()


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != THREE_AM.name])
def test_every_other_shape_runs_its_stages_and_faults(
    stack: StackHandle, tmp_path: Path, name: str
) -> None:
    options = RunOptions(time_scale=TIME_SCALE, duration_factor=0.15, run_id=tmp_path.name[:12])
    raw = run_locust_on_target(
        stack.group, stack.endpoints["refactored"], SCENARIOS[name], tmp_path, options
    )
    result = to_scenario_result(raw, TIME_SCALE, duration_factor=0.15)
    assert result.sane, [e.describe() for e in result.expectations if e.role == "sanity"]
    assert (tmp_path / "locust_stats.csv").exists()


def test_distributed_mode_splits_the_users_over_worker_processes(
    stack: StackHandle, tmp_path: Path
) -> None:
    stages = [ScaledStage("steady", 0.0, 8.0, 8, 8.0, ("FriendshipReader", "HealthProber"))]
    options = RunOptions(time_scale=TIME_SCALE, processes=2, stages=stages, run_id="dist")
    scenario = Scenario("distributed", "two Locust worker processes", stages=())
    raw = run_locust_on_target(
        stack.group, stack.endpoints["refactored"], scenario, tmp_path, options
    )
    files = [p for p in tmp_path.glob(SAMPLES_GLOB) if p.read_text().strip()]
    assert len(files) == 2, "each Locust worker process records its own requests"
    samples = read_samples(tmp_path, raw.started_at)
    stats = (tmp_path / "locust_stats.csv").read_text().splitlines()
    aggregated = next(line for line in stats if ",Aggregated," in line)
    assert int(aggregated.split(",")[2]) == len(samples)  # the master aggregated them all
