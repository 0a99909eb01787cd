"""Prometheus text, parsed once by ``prometheus_client``'s own parser, and what the
engines read from it (breaker transitions, the event-loop lag gauge).

One function, one return type: :func:`parse_metrics` -> :data:`Samples`, a map of
``(sample name, labels)`` to value. Two scrapes give deltas (:func:`breaker_transitions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

MetricKey = tuple[str, frozenset[tuple[str, str]]]
Samples = dict[MetricKey, float]
BREAKER_TRANSITIONS = "circuit_breaker_transitions_total"
EVENT_LOOP_LAG_MAX = "event_loop_lag_max_seconds"


def parse_metrics(text: str) -> Samples:
    """Prometheus text -> {(sample name, labels): value} (repeated samples summed)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            out[key] = out.get(key, 0.0) + float(sample.value)
    return out


def gauge_max(samples: Mapping[MetricKey, float], name: str) -> float | None:
    """The largest value of the samples named ``name`` (None: there is none)."""
    values = [v for (n, _labels), v in samples.items() if n == name]
    return max(values) if values else None


def breaker_transitions(
    after: Mapping[MetricKey, float], before: Mapping[MetricKey, float] | None = None
) -> list[dict[str, Any]]:
    """Circuit-breaker transitions between two scrapes (``before`` None: since start), one
    entry per (dependency, from_state, to_state) that happened, in that order."""
    counts: dict[tuple[str, str, str], float] = {}
    for (name, labels), value in after.items():
        if name != BREAKER_TRANSITIONS:
            continue
        delta = value - (before or {}).get((name, labels), 0.0)
        lab = dict(labels)
        key = (lab.get("dependency", ""), lab.get("from_state", ""), lab.get("to_state", ""))
        counts[key] = counts.get(key, 0.0) + delta
    return [
        {"dependency": d, "from_state": f, "to_state": t, "count": int(c)}
        for (d, f, t), c in sorted(counts.items())
        if c > 0
    ]
