"""Scenarios the way Locust's users run them: ``locust -f loadtests/locustfile.py``.

- ``--scenario three_am`` (or, with ``--class-picker``, the shape named ``three_am`` in
  the web UI) runs the scenario's stages; with no scenario the locustfile is an ordinary
  one and ``-u/-r/-t`` work (the default evening mix of users).
- ``--stack .stack/stack.json`` (``$LOADTEST_STACK``; default: that file when ``make up``
  wrote it) tells where the target's Toxiproxy and fakes are: the scenario's faults are
  applied at their marks from Locust's test_start and cleared at test_stop
  (loadtests.locust_run). The target is the one whose LB is ``--host`` (or ``--target``).
- The verdict (the scenario's thresholds, as in ``results.json``) is shown in the web UI's
  *Verdict* tab (loadtests.locust_webui) and is the headless exit code.

See docs/loadtests.md "Running a scenario from Locust".
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests.locust_run import ScenarioRun, run_folder
from loadtests.model import DEFAULT_MIX
from loadtests.scenarios import SCENARIOS
from loadtests.session import Session
from loadtests.shapes import SCENARIO_SHAPES, HarnessStagesShape, ScenarioShape, stages_from_env
from loadtests.stack_file import read_stack_file, target_for_host, target_in
from loadtests.users import USER_CLASSES
from testbed.settings import DEFAULT_TIME_SCALE, harness_settings
from testbed.stack_info import StackError
from testbed.target import TargetInfo

logger = logging.getLogger("loadtests")
# one INFO line per fault-control call would drown Locust's own output
logging.getLogger("httpx").setLevel(logging.WARNING)
DEFAULT_STACK = Path(".stack/stack.json")
JUDGE_TIMEOUT_S = 60.0


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any, **_kwargs: Any) -> None:
    # (Locust's argument groups do not take include_in_web_ui: the parser itself does)
    parser.add_argument(
        "--scenario",
        choices=list(SCENARIOS),
        default=os.environ.get("LOADTEST_SCENARIO") or None,
        help="run this scenario's shape, faults and thresholds (docs/loadtests.md); empty: an "
        "ordinary run with the users/ramp up/run time given here",
    )
    parser.add_argument(
        "--stack",
        default=os.environ.get("LOADTEST_STACK", ""),
        include_in_web_ui=False,
        help="the stack.json of `make up` (default: .stack/stack.json when it exists): where "
        "the target's Toxiproxy and fakes are, for the scenario's faults",
    )
    parser.add_argument(
        "--target",
        default="",
        include_in_web_ui=False,
        help="legacy or refactored (default: the stack target whose LB is --host)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        include_in_web_ui=False,
        help="scale of the scenario's durations (default: $TIME_SCALE, else the stack's, else "
        f"the harness's default {DEFAULT_TIME_SCALE})",
    )


def stack_path(options: Any) -> Path | None:
    given = getattr(options, "stack", "") or ""
    if given:
        return Path(given)
    return DEFAULT_STACK if DEFAULT_STACK.exists() else None


def time_scale(options: Any) -> float:
    """``--time-scale``, else ``$TIME_SCALE`` (both through testbed.settings), else the scale
    the stack runs at (its stack.json), else the harness's one default."""
    settings = harness_settings(time_scale=getattr(options, "time_scale", None))
    if "time_scale" in settings.model_fields_set:  # given, on the command line or in the env
        return settings.time_scale
    path = stack_path(options)
    if path is not None:
        with contextlib.suppress(StackError):
            return float(read_stack_file(path).time_scale)
    return settings.time_scale


def select_shape(environment: Environment, name: str | None) -> None:
    """The scenario's shape, or none at all (then -u/-r/-t drive an ordinary run)."""
    shape = SCENARIO_SHAPES[name]() if name else None
    if shape is not None:
        shape.runner = environment.runner
    environment.shape_class = shape


@events.init.add_listener
def on_init(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    # every process (a worker too: its users' network timeout follows the LB's timeout)
    Session.time_scale = time_scale(options)
    if isinstance(environment.runner, WorkerRunner):
        return
    if stages_from_env() is not None:  # make load's protocol: its stages, faults beside Locust
        shape = HarnessStagesShape()
        shape.runner = environment.runner
        environment.shape_class = shape
        return
    select_shape(environment, options.scenario)
    if not options.user_classes and not options.class_picker:
        # an ordinary run gets the evening mix, not the burster and the bench's users
        environment.user_classes = [USER_CLASSES[n] for n in DEFAULT_MIX]
    if environment.web_ui is not None:
        from loadtests.locust_webui import extend_web_ui

        extend_web_ui(environment)


def _target(environment: Environment) -> tuple[TargetInfo | None, Path | None]:
    """The stack's target this run drives (None: no stack) and the stack's log folder."""
    options = environment.parsed_options
    path = stack_path(options)
    if path is None:
        return None, None
    info = read_stack_file(path)
    name = getattr(options, "target", "") or target_for_host(info, environment.host)
    if not name:
        raise StackError(
            f"--host {environment.host!r} is no target's LB in {path}: pass --target "
            "legacy|refactored or the LB URL make up printed"
        )
    return target_in(info, name, path), Path(info.log_dir) if info.log_dir else None


@events.test_start.add_listener
def on_test_start(environment: Environment, **_kwargs: Any) -> None:
    shape = environment.shape_class
    if isinstance(environment.runner, WorkerRunner) or not isinstance(shape, ScenarioShape):
        return
    if Session.current is not None:
        Session.current.stop()
    try:
        target, log_dir = _target(environment)
    except StackError as exc:
        logger.error("%s: the scenario runs without its faults", exc)
        target, log_dir = None, None
    scenario = shape.scenario
    run = ScenarioRun(scenario, target, Session.time_scale, run_folder(scenario.name), log_dir)
    Session.current = Session.last = run
    run.start()
    logger.info(
        "scenario %s on %s (scale %g): faults %s, samples in %s",
        scenario.name,
        target.name if target else "no stack",
        run.time_scale,
        ", ".join(f.label for f in scenario.faults) or "none",
        run.out_dir,
    )


@events.test_stop.add_listener
def on_test_stop(environment: Environment, **_kwargs: Any) -> None:
    run = Session.current
    if run is None or isinstance(environment.runner, WorkerRunner):
        return
    Session.current = None
    run.stop()  # faults cleared now, before the (slower) judging

    def judge() -> None:
        result = run.judge()
        if result is None:
            logger.error("scenario %s not judged: %s", run.scenario.name, run.error)
            environment.process_exit_code = 2
            return
        for expectation in result.failed_expectations():
            logger.warning("  broken: %s", expectation.describe())
        logger.info(
            "scenario %s on %s: %s (%s LB 504s); results: %s",
            result.scenario,
            result.target,
            result.verdict,
            result.extra.get("lb_504_count"),
            run.out_dir / "results.json",
        )
        # make load's rule: pass, or legacy's expected failure
        environment.process_exit_code = 0 if result.verdict in ("pass", "expected_fail") else 1

    Session.judging = gevent.spawn(judge)


@events.quitting.add_listener
def on_quitting(environment: Environment, **_kwargs: Any) -> None:
    """Ctrl-C or the end of a headless run: faults cleared, the verdict in before the exit."""
    if Session.current is not None:
        on_test_stop(environment)
    if Session.judging is not None:
        Session.judging.join(timeout=JUDGE_TIMEOUT_S)
