"""Thresholds several load scenarios share (loadtests.scenarios declares the scenarios).

Each is a k6-style check (loadtests.model.Threshold) over a metric of
loadtests.metrics.compute_metrics; ``role="sanity"`` ones prove the load and the fault
really happened.
"""

from __future__ import annotations

from loadtests.model import APP_DEADLINE_S, LB_TIMEOUT_S, Threshold

MS = 1000.0


def traffic_happened(minimum: int) -> Threshold:
    return Threshold(
        "load_generated",
        "requests_total",
        ">=",
        minimum,
        f"the load generator sent at least {minimum} requests (x duration factor)",
        role="sanity",
        per_duration=True,
    )


VALID_REQUESTS = Threshold(
    "requests_valid",
    "conversation_end_rejected_rate",
    "<",
    0.05,
    "fewer than 5 % of conversation ends rejected with a 4xx other than 429: the load is valid",
    role="sanity",
)


def faults_applied(count: int) -> Threshold:
    return Threshold(
        "faults_applied",
        "faults_applied",
        ">=",
        count,
        f"all {count} faults of the schedule were applied",
        role="sanity",
    )


NO_LB_504 = Threshold(
    "no_lb_504",
    "lb_504_count",
    "==",
    0,
    "no 504 from the load balancer: the app answers before the LB gives up",
)
CONVERSATION_P99_UNDER_DEADLINE = Threshold(
    "conversation_end_p99_under_deadline",
    "conversation_end_p99_ms",
    "<",
    APP_DEADLINE_S * MS,
    "p99 of POST /v1/conversations/end below the app deadline (55 s x scale)",
    unit="ms",
    scaled=True,
)
NO_WORKER_RESTART = Threshold(
    "no_worker_restart",
    "worker_timeouts",
    "==",
    0,
    "no gunicorn WORKER TIMEOUT (a worker whose event loop was blocked gets killed)",
)
HEALTH_FAST = Threshold(
    "health_p95_fast",
    "health_p95_ms",
    "<",
    0.05 * LB_TIMEOUT_S * MS,
    "p95 of GET /health through the LB below 5 % of the LB timeout: the event loop is free",
    unit="ms",
    scaled=True,
)
FRIENDSHIP_READ_FAST = Threshold(
    "friendship_read_p95_fast",
    "friendship_read_p95_ms",
    "<",
    0.1 * LB_TIMEOUT_S * MS,
    "p95 of GET /v1/friendships/{user_id}/{agent_id} below 10 % of the LB timeout: a read "
    "touches only the database, whatever the LLM does (a blocked worker makes it wait too)",
    unit="ms",
    scaled=True,
)
FEW_ERRORS = Threshold(
    "conversation_end_error_rate",
    "conversation_end_error_rate",
    "<",
    0.05,
    "fewer than 5 % of conversation ends fail (5xx or no answer): fallbacks, not errors",
)

NIGHTLY_COMPLETED = Threshold(
    "nightly_job_completed",
    "nightly_jobs_failed",
    "==",
    0,
    "the nightly job answered 2xx: it survives the incident instead of exhausting the pool "
    "(503), being killed with its worker, or outliving the run",
)
