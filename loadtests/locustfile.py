"""The one locustfile: the users of loadtests.users, one shape per scenario, the samples.

By hand, against ``make up``'s stack (docs/loadtests.md "Running a scenario from Locust"):
``locust -f loadtests/locustfile.py --host <LB url> --class-picker`` (pick ``three_am``
in the UI) or ``... --headless --scenario three_am``: the scenario's faults are applied
from inside Locust (loadtests.locust_plugin) and its verdict is shown in the *Verdict*
tab and the exit code. With no scenario, an ordinary locustfile (``-u/-r/-t``).

``make load`` (harness.loadrun) runs it headless with ``LOADTEST_STAGES`` (JSON list of
scaled stages) and ``LOADTEST_OUT_DIR``. Each Locust process writes one JSONL line per
request there (or in the UI run's folder), for the per-second series and the LB-504
classification the CSVs cannot give.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests import distributed, locust_plugin  # noqa: F401  (locust_plugin: --scenario, ...)
from loadtests.metrics import STARTED_FILE
from loadtests.session import samples_dir, shapes_requested
from loadtests.shapes import SCENARIO_SHAPES, HarnessStagesShape  # noqa: F401
from loadtests.users import (  # noqa: F401  (Locust discovers the user classes here)
    ActivitySuggester,
    BenchConversationEnder,
    BenchSuggester,
    Burster,
    ConversationEnder,
    FriendshipReader,
    HealthProber,
)

# Locust discovers shape classes among this module's names: one per scenario, named like
# it, when a scenario is asked for (else -u/-r/-t drive an ordinary run).
if shapes_requested(sys.argv, os.environ):
    globals().update(SCENARIO_SHAPES)

# ---- per-request samples ----------------------------------------------------------------

# a distributed run's workers send their samples to the master (docs/loadtests.md)
distributed.register(samples_dir)

_sink: IO[str] | None = None
_sink_key: tuple[int, str] | None = None


def _samples_file() -> IO[str] | None:
    global _sink, _sink_key
    out_dir = samples_dir()
    if not out_dir:
        return None
    key = (os.getpid(), out_dir)  # a forked worker, or a new run from the UI, opens its own
    if _sink is None or _sink_key != key:
        if _sink is not None:
            _sink.close()
        path = Path(out_dir) / f"samples-{os.getpid()}.jsonl"
        _sink = path.open("a", buffering=64 * 1024)
        _sink_key = key
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
    relayed = distributed.relaying()  # a worker: its master writes the rows
    sink = None if relayed else _samples_file()
    if sink is None and not relayed:
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
    if sink is None:
        distributed.forward(row)
    else:
        sink.write(json.dumps(row, separators=(",", ":")) + "\n")


@events.test_start.add_listener
def _mark_start(environment: Environment, **_kwargs: Any) -> None:
    out_dir = os.environ.get("LOADTEST_OUT_DIR")  # the harness waits for this file
    if out_dir and not isinstance(environment.runner, WorkerRunner):
        (Path(out_dir) / STARTED_FILE).write_text(json.dumps({"started_at": time.time()}))


@events.test_stop.add_listener
@events.quitting.add_listener
def _flush(**_kwargs: Any) -> None:
    if _sink is not None:
        _sink.flush()
