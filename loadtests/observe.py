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
from prometheus_client.parser import text_string_to_metric_families

from loadtests.endpoints import TargetEndpoints, fake_call

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
    """The refactored /metrics values the load report uses (multiprocess samples summed/maxed)."""
    lag_max: float | None = None
    transitions: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "event_loop_lag_max_seconds":
                lag_max = max(lag_max or 0.0, float(sample.value))
            elif sample.name == "circuit_breaker_transitions_total":
                labels = sample.labels
                key = (
                    labels.get("dependency", ""),
                    labels.get("from_state", ""),
                    labels.get("to_state", ""),
                )
                transitions[key] = transitions.get(key, 0.0) + float(sample.value)
    return {
        "event_loop_lag_max_s": lag_max,
        "breaker_transitions": [
            {"dependency": d, "from_state": f, "to_state": t, "count": int(c)}
            for (d, f, t), c in sorted(transitions.items())
            if c
        ],
    }


class MetricsWatcher(threading.Thread):
    """Scrapes the refactored /metrics every second: the max event-loop lag seen."""

    def __init__(self, url: str | None) -> None:
        super().__init__(daemon=True, name="metrics-watcher")
        self.url = url
        self.stop_event = threading.Event()
        self.lag_max: float | None = None
        self.last: dict[str, Any] = {}

    def scrape(self) -> None:
        if not self.url:
            return
        with contextlib.suppress(httpx.HTTPError, ValueError):
            response = httpx.get(self.url, timeout=2.0)
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


def reset_fakes(target: TargetEndpoints) -> None:
    """Zero the fakes' counters and faults before a run (its stats are the run's own)."""
    for url in (target.llm_control_url, target.memory_control_url, target.webhook_control_url):
        with contextlib.suppress(httpx.HTTPError):
            fake_call(url, "POST", "/reset")


def alerts(target: TargetEndpoints) -> dict[str, Any]:
    """The alert cards the fake webhook received, counted by level, with their titles."""
    try:
        cards = fake_call(target.webhook_control_url, "GET", "/cards") or {}
    except httpx.HTTPError:
        return {}
    out: dict[str, Any] = {"P0": 0, "P1": 0, "P2": 0, "titles": []}
    for card in cards.get("cards", []):
        level = card.get("level", "")
        out[level] = out.get(level, 0) + 1
        if card.get("title") and card["title"] not in out["titles"]:
            out["titles"].append(card["title"])
    return out
