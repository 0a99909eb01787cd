"""Prometheus metrics with exactly the names of docs/conventions.md §10.

Defined once at import (prometheus_client's registry is process-global). In
multiprocess mode (PROMETHEUS_MULTIPROC_DIR set, gunicorn with several
workers) every worker writes its own files and /metrics aggregates them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

http_request_duration = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
dependency_call_duration = Histogram(
    "dependency_call_duration_seconds",
    "Latency of one call to a dependency",
    ["dependency", "outcome"],
    buckets=LATENCY_BUCKETS,
)
retry_attempts = Counter(
    "retry_attempts_total", "Retries made (not first attempts)", ["dependency"]
)
breaker_state = Gauge(
    "circuit_breaker_state",
    "0 closed, 1 half-open, 2 open",
    ["dependency"],
    multiprocess_mode="max",
)
breaker_transitions = Counter(
    "circuit_breaker_transitions_total",
    "Breaker state changes",
    ["dependency", "from_state", "to_state"],
)
fallbacks = Counter("fallbacks_total", "Fallback values used", ["field"])
rate_limited = Counter("rate_limited_total", "Requests refused by the rate limiter", ["route"])
rate_limit_fail_open = Counter(
    "rate_limit_fail_open_total",
    "Requests let through without a rate limit check because the limiter's store failed",
)
outbox_backlog = Gauge("outbox_backlog", "Outbox events not yet published", multiprocess_mode="max")
event_loop_lag = Histogram(
    "event_loop_lag_seconds", "Event-loop scheduling lag", buckets=LAG_BUCKETS
)
event_loop_lag_max = Gauge(
    "event_loop_lag_max_seconds", "Largest event-loop lag seen", multiprocess_mode="max"
)

BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def render_metrics() -> tuple[bytes, str]:
    """The text exposition, aggregated over workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
