"""A witness beside the real locustfile: what this process's users did, in its own folder.

Loaded with ``-f loadtests/locustfile.py,<this file>``; every request Locust reports in
this process is appended to ``witness-<pid>.jsonl`` in the current working directory (a
worker's own temporary directory in the test), independently of loadtests.distributed,
so the test can compare what each worker did with what the master wrote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from locust import events


@events.request.add_listener
def _witness(
    name: str,
    response_time: float,
    response: Any = None,
    context: dict[str, Any] | None = None,
    start_time: float | None = None,
    **_kwargs: Any,
) -> None:
    status = getattr(response, "status_code", None) or None
    group = (context or {}).get("group", "normal")
    row = {"t": start_time, "n": name, "s": status, "ms": round(response_time, 2), "g": group}
    path = Path.cwd() / f"witness-{os.getpid()}.jsonl"  # per process, forked ones too
    with path.open("a") as sink:  # unbuffered by design: a worker killed later keeps its lines
        sink.write(json.dumps(row) + "\n")
