"""Watching the target during a load run: its /metrics, its logs, the fakes' counters.

What a load run measures besides the requests themselves: the event-loop lag and breaker
transitions of the refactored service (scraped every second), gunicorn's ``WORKER
TIMEOUT`` lines in the logs, the fake LLM's call counts and the alert cards.
"""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path
from typing import Any

import httpx

from testbed.alerts import alert_summary
from testbed.fakes import FakeControl
from testbed.metrics import EVENT_LOOP_LAG_MAX, breaker_transitions, gauge_max
from testbed.metrics import parse_metrics as parse_prometheus
from testbed.target import TargetInfo

WORKER_TIMEOUT_RE = re.compile(r"WORKER TIMEOUT")


def count_worker_timeouts(log_dir: Path | None, target: str) -> int:
    """gunicorn's ``WORKER TIMEOUT`` lines in the target's logs (a blocked worker killed)."""
    if log_dir is None or not log_dir.exists():
        return 0
    total = 0
    for path in log_dir.glob(f"*{target}*.log"):
        with contextlib.suppress(OSError):
            total += len(WORKER_TIMEOUT_RE.findall(path.read_text(errors="replace")))
    return total


def parse_metrics(text: str) -> dict[str, Any]:
    """The refactored /metrics values the load report uses (multiprocess samples summed)."""
    samples = parse_prometheus(text)
    return {
        "event_loop_lag_max_s": gauge_max(samples, EVENT_LOOP_LAG_MAX),
        "breaker_transitions": breaker_transitions(samples),
    }


class MetricsWatcher(threading.Thread):
    """Scrapes the refactored /metrics every second: the max event-loop lag seen."""

    def __init__(self, url: str | None) -> None:
        super().__init__(daemon=True, name="metrics-watcher")
        self.url = url
        self.stop_event = threading.Event()
        self.lag_max: float | None = None
        self.last: dict[str, Any] = {}
        # one client for the watcher's life: httpx.get builds a client (and its SSL
        # context) per call, which cost the harness CPU while a bench measured the service
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=2.0)
            return self._client

    def scrape(self) -> None:
        if not self.url:
            return
        with contextlib.suppress(httpx.HTTPError, ValueError):
            response = self._http().get(self.url)
            if response.status_code == 200:
                self.last = parse_metrics(response.text)
                lag = self.last.get("event_loop_lag_max_s")
                if lag is not None:
                    self.lag_max = max(self.lag_max or 0.0, lag)

    def run(self) -> None:
        while not self.stop_event.wait(1.0):
            self.scrape()

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=5)
        self.scrape()
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _control(target: TargetInfo | None, kind: str) -> FakeControl | None:
    """The fake ``kind``'s control client (close it); None when the target has none."""
    if target is None or kind not in target.fakes:
        return None
    return target.fake_control(kind)


def reset_fakes(target: TargetInfo | None) -> None:
    """Zero the fakes' counters and faults before a run (its stats are the run's own)."""
    for kind in ("llm", "memory", "webhook"):
        control = _control(target, kind)
        if control is not None:
            with contextlib.suppress(httpx.HTTPError), contextlib.closing(control):
                control.reset()


def llm_stats(target: TargetInfo | None) -> dict[str, Any]:
    """The fake LLM's counters ({} when the target has none)."""
    control = _control(target, "llm")
    if control is None:
        return {}
    with contextlib.closing(control):
        return control.stats()


def alerts(target: TargetInfo | None) -> dict[str, Any]:
    """The alert cards the fake webhook received, counted by level, with their titles."""
    control = _control(target, "webhook")
    if control is None:
        return {}
    with contextlib.suppress(httpx.HTTPError), contextlib.closing(control):
        return alert_summary(control.cards())
    return {}
