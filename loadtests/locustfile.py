"""The one locustfile: the users of loadtests.users and a shape that follows stages as data.

Run by the load runner (``python -m harness load``) as
``locust -f loadtests/locustfile.py --headless --host <LB url> --csv ... --html ...``
with ``LOADTEST_STAGES`` (JSON list of scaled stages) and ``LOADTEST_OUT_DIR``
(where each Locust process writes one JSONL line per request, for the
per-second series and the LB-504 classification the CSVs cannot give). By hand:
``LOADTEST_SCENARIO=three_am TIME_SCALE=0.1 locust -f loadtests/locustfile.py --host ...``.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests.metrics import STARTED_FILE
from loadtests.model import ScaledStage, scaled_stages, stage_at
from loadtests.scenarios import get_scenario
from loadtests.users import (  # noqa: F401  (Locust discovers the user classes here)
    USER_CLASSES,
    ActivitySuggester,
    BenchSuggester,
    Burster,
    ConversationEnder,
    FriendshipReader,
    HealthProber,
)


def load_stages() -> list[ScaledStage]:
    raw = os.environ.get("LOADTEST_STAGES")
    if raw:
        return [ScaledStage(**{**s, "classes": tuple(s["classes"])}) for s in json.loads(raw)]
    scenario = get_scenario(os.environ.get("LOADTEST_SCENARIO", "three_am"))
    return scaled_stages(scenario, float(os.environ.get("TIME_SCALE", "1.0")))


STAGES = load_stages()
# Every class of any stage is dispatched from the start (Locust does not add a
# fixed_count class that appears in a later stage); a class missing from some
# stages works only inside the stages that list it (ContextServiceUser.active).
ALL_CLASSES = sorted({name for stage in STAGES for name in stage.classes})
for _name in ALL_CLASSES:
    _windows = tuple((st.start_s, st.end_s) for st in STAGES if _name in st.classes)
    _everywhere = len(_windows) == len(STAGES)
    USER_CLASSES[_name].active_windows = None if _everywhere else _windows


class StagesShape(LoadTestShape):
    """Follows STAGES; returning None after the last stage ends the test."""

    def tick(self) -> tuple[int, float, list[type]] | None:
        stage = stage_at(STAGES, self.get_run_time())
        if stage is None:
            return None
        return stage.users, stage.spawn_rate, [USER_CLASSES[name] for name in ALL_CLASSES]


# ---- per-request samples ----------------------------------------------------------------

_OUT_DIR = os.environ.get("LOADTEST_OUT_DIR")
_sink: IO[str] | None = None
_sink_pid: int | None = None


def _samples_file() -> IO[str] | None:
    global _sink, _sink_pid
    if not _OUT_DIR:
        return None
    if _sink is None or _sink_pid != os.getpid():  # a forked worker opens its own file
        path = Path(_OUT_DIR) / f"samples-{os.getpid()}.jsonl"
        _sink = path.open("a", buffering=64 * 1024)
        _sink_pid = os.getpid()
        atexit.register(_sink.close)
    return _sink


CONVERSATION_END = "POST /v1/conversations/end"


def _degraded(body: bytes) -> bool | None:
    """Did the answer use a fallback (a non-empty ``degraded``)? None: not readable."""
    try:
        degraded = json.loads(body).get("degraded")
    except (ValueError, AttributeError):
        return None
    return bool(degraded) if isinstance(degraded, list) else None


@events.request.add_listener
def _record(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    context: dict[str, Any] | None = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_kwargs: Any,
) -> None:
    sink = _samples_file()
    if sink is None:
        return
    status = getattr(response, "status_code", None) or None  # FastHttpUser: 0 = no response
    lb_504 = False
    if status == 504:
        # The refactored app's own deadline answer says so in JSON; the LB's does not.
        body = getattr(response, "content", None) or b""
        lb_504 = b"deadline_exceeded" not in body
    row = {
        "t": start_time,
        "n": name,
        "s": status,
        "ms": round(response_time, 2),
        "lb504": lb_504,
        "g": (context or {}).get("group", "normal"),
    }
    if status == 200 and name == CONVERSATION_END:
        row["dg"] = _degraded(getattr(response, "content", None) or b"")
    sink.write(json.dumps(row, separators=(",", ":")) + "\n")


@events.test_start.add_listener
def _mark_start(environment: Environment, **_kwargs: Any) -> None:
    if _OUT_DIR and not isinstance(environment.runner, WorkerRunner):
        (Path(_OUT_DIR) / STARTED_FILE).write_text(json.dumps({"started_at": time.time()}))


@events.test_stop.add_listener
@events.quitting.add_listener
def _flush(**_kwargs: Any) -> None:
    if _sink is not None:
        _sink.flush()
