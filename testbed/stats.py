"""The latency statistics every results file carries: nearest-rank percentiles, a latency
summary and per-second series (``ScenarioResult.latency_ms``, ``.series``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (NaN when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def latency_summary(latencies_ms: Iterable[float]) -> dict[str, float]:
    values = sorted(latencies_ms)
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": values[-1],
        "mean": sum(values) / len(values),
    }


def bucket_series(
    samples: Iterable[tuple[float, int | None, float]], bucket_s: float = 1.0
) -> dict[str, Any]:
    """Per-bucket series from ``(t_s since start, status or None, latency_ms)`` samples.

    ``status`` None is a transport error (counted under ``"error"``). Buckets are
    by request *start* time; empty buckets inside the run are kept (zeros).
    """
    rows = sorted(samples, key=lambda sample: sample[0])  # statuses may be None: sort by time
    if not rows:
        return {"bucket_s": bucket_s, "t_s": []}
    n = int(rows[-1][0] // bucket_s) + 1
    latencies: list[list[float]] = [[] for _ in range(n)]
    status: dict[str, list[int]] = {}
    for t, code, latency in rows:
        i = int(t // bucket_s)
        latencies[i].append(latency)
        key = "error" if code is None else str(code)
        status.setdefault(key, [0] * n)[i] += 1

    def pct(q: float) -> list[float | None]:
        return [percentile(sorted(b), q) if b else None for b in latencies]

    return {
        "bucket_s": bucket_s,
        "t_s": [round(i * bucket_s, 3) for i in range(n)],
        "requests": [len(b) for b in latencies],
        "rps": [len(b) / bucket_s for b in latencies],
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "status": status,
    }
