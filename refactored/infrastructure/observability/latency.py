"""Latency alerts (docs/conventions.md §9): P1 when p99 > 5 s, P2 when p95 > 2 s (per window,
scaled)."""

from __future__ import annotations

import asyncio

from refactored.application.ports import AlertSink

MIN_SAMPLES = 20  # a handful of slow requests is not a percentile


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


class LatencyWatch:
    def __init__(self, alerts: AlertSink, p95_threshold_s: float, p99_threshold_s: float) -> None:
        self._alerts = alerts
        self._p95 = p95_threshold_s
        self._p99 = p99_threshold_s
        self._samples: list[float] = []

    def observe(self, seconds: float) -> None:
        self._samples.append(seconds)

    def check(self) -> None:
        samples, self._samples = sorted(self._samples), []
        if len(samples) < MIN_SAMPLES:
            return
        p95, p99 = percentile(samples, 0.95), percentile(samples, 0.99)
        if p99 > self._p99:
            self._alerts.alert(
                "P1",
                "Latency p99 above threshold",
                f"p99 {p99:.2f}s > {self._p99:.2f}s over {len(samples)} requests",
            )
        if p95 > self._p95:
            self._alerts.alert(
                "P2",
                "Latency p95 above threshold",
                f"p95 {p95:.2f}s > {self._p95:.2f}s over {len(samples)} requests",
            )

    async def run(self, window_s: float) -> None:
        while True:
            await asyncio.sleep(window_s)
            self.check()
