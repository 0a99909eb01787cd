"""The scenario runs of one Locust process and what its command line asked for.

Locust-free (importing Locust monkey-patches the process), so the locustfile, the plugin
and the verdict view share it and unit tests read it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from testbed.settings import DEFAULT_TIME_SCALE

if TYPE_CHECKING:  # (loadtests.locust_run imports Locust)
    from loadtests.locust_run import ScenarioRun


class Session:
    """One scenario run at a time; the web UI can start several, one after the other."""

    current: ScenarioRun | None = None
    last: ScenarioRun | None = None
    judging: Any = None  # the greenlet judging the last run
    # the scenarios' scale in this process, set when Locust starts (locust_plugin.time_scale:
    # --time-scale, $TIME_SCALE, the stack's); the users' network timeout follows it
    time_scale: float = DEFAULT_TIME_SCALE


def shapes_requested(argv: list[str], env: Mapping[str, str]) -> bool:
    """Should Locust see the scenario shapes? Only when asked for (``--class-picker`` lists
    them, ``--scenario`` runs one): Locust runs the first shape it finds and ignores
    -u/-r/-t then, so an ordinary run must find none. (Locust discovers shapes when it
    imports the locustfile, before it parses the command line: hence argv.)"""
    return (
        any(a == "--class-picker" or a.startswith("--scenario") for a in argv)
        or env.get("LOCUST_CLASS_PICKER", "").lower() in ("1", "true")
        or bool(env.get("LOADTEST_SCENARIO"))
    )


def samples_dir() -> str | None:
    """Where the request hook writes samples: the harness's folder, else the current run's."""
    if os.environ.get("LOADTEST_OUT_DIR"):
        return os.environ["LOADTEST_OUT_DIR"]
    run = Session.current
    return str(run.out_dir) if run is not None else None
