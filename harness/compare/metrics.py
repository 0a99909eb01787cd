"""The figures a comparison shows per pair: metrics with delta and ratio, expectations
side by side, and the summary row of each pair."""

from __future__ import annotations

import math
from typing import Any

from harness.compare.model import Comparison, Pair
from testbed.results import ScenarioResult


def _status(result: ScenarioResult, prefix: str) -> int:
    return sum(n for code, n in result.status_counts.items() if code.startswith(prefix))


METRICS: list[tuple[str, Any]] = [
    ("requests", lambda r: r.requests_total),
    ("2xx", lambda r: _status(r, "2")),
    ("429", lambda r: r.status_counts.get("429", 0)),
    ("503", lambda r: r.status_counts.get("503", 0)),
    ("504", lambda r: r.status_counts.get("504", 0)),
    ("5xx (all)", lambda r: _status(r, "5")),
    ("transport errors", lambda r: r.transport_errors),
    ("latency p50 ms", lambda r: r.latency_ms.get("p50")),
    ("latency p95 ms", lambda r: r.latency_ms.get("p95")),
    ("latency p99 ms", lambda r: r.latency_ms.get("p99")),
    ("latency max ms", lambda r: r.latency_ms.get("max")),
    ("health p99 ms", lambda r: r.health_latency_ms.get("p99")),
    ("LLM calls", lambda r: r.llm_calls.get("total")),
    ("LLM calls / request", lambda r: r.llm_calls.get("per_request")),
    ("event-loop lag max s", lambda r: r.event_loop_lag_max_s),
    ("breaker transitions", lambda r: sum(int(t.get("count", 1)) for t in r.breaker_transitions)),
    ("alerts P0", lambda r: r.alerts.get("P0")),
    ("alerts P1", lambda r: r.alerts.get("P1")),
    ("alerts P2", lambda r: r.alerts.get("P2")),
    ("lost updates", lambda r: r.integrity.get("lost_updates")),
    ("events lost", lambda r: _events_lost(r)),
]


def _events_lost(result: ScenarioResult) -> int | None:
    expected = result.integrity.get("events_expected")
    delivered = result.integrity.get("events_delivered")
    if expected is None or delivered is None:
        return None
    return int(expected) - int(delivered)


def metric_rows(pair: Pair) -> list[tuple[str, str, str, str, str]]:
    """(metric, left, right, delta, ratio) for every metric either side measured."""
    rows = []
    for name, get in METRICS:
        left, right = get(pair.left), get(pair.right)
        if left is None and right is None:
            continue
        rows.append((name, fmt(left), fmt(right), _delta(left, right), _ratio(left, right)))
    return rows


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{int(value):,}"


def _delta(left: float | None, right: float | None) -> str:
    if left is None or right is None:
        return "-"
    diff = float(right) - float(left)
    return ("+" if diff > 0 else "") + fmt(diff) if diff else "0"


def _ratio(left: float | None, right: float | None) -> str:
    if left is None or right is None or not float(left):
        return "-"
    return f"{float(right) / float(left):.2g}x"


def expectation_rows(pair: Pair) -> list[tuple[str, str, str]]:
    """(expectation, left, right): observed value and pass/FAIL on each side."""
    names: list[str] = []
    for result in (pair.left, pair.right):
        names += [e.name for e in result.expectations if e.name not in names]

    def cell(result: ScenarioResult, name: str) -> str:
        found = next((e for e in result.expectations if e.name == name), None)
        if found is None:
            return "-"
        observed = "missing" if found.observed is None else f"{found.observed:g}{found.unit}"
        verdict = "pass" if found.passed else "FAIL"
        return f"{verdict}: {observed} ({found.op} {found.threshold:g}{found.unit})"

    return [(name, cell(pair.left, name), cell(pair.right, name)) for name in names]


def summary_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for pair in comparison.pairs:
        left, right = pair.left, pair.right
        rows.append([
            pair.key,
            left.verdict, right.verdict,
            fmt(left.latency_ms.get("p99")), fmt(right.latency_ms.get("p99")),
            fmt(left.status_counts.get("504", 0)), fmt(right.status_counts.get("504", 0)),
        ])  # fmt: skip
    return rows


def summary_header(comparison: Comparison) -> list[str]:
    left, right = comparison.left_label, comparison.right_label
    return ["scenario", f"{left} verdict", f"{right} verdict", f"{left} p99 ms",
            f"{right} p99 ms", f"{left} 504s", f"{right} 504s"]  # fmt: skip
