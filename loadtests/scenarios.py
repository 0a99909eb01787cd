"""The load scenarios: each one's stages, faults and thresholds, declared together.

Durations are production seconds (scaled by TIME_SCALE at run time; CI 0.1):
``three_am`` is 15 minutes in production and 90 s at scale 0.1.

Thresholds are the *same* on both targets (the gate can say item by item why
legacy fails); legacy is ``expected_to_fail`` where the incident's failure is
the expected outcome. ``sanity`` thresholds prove the load and the fault
really happened (must hold on every target).
"""

from __future__ import annotations

from loadtests.model import (
    DEFAULT_MIX,
    LB_TIMEOUT_S,
    LLM_TIMEOUT_S,
    NightlyRun,
    Scenario,
    ScheduledFault,
    Stage,
    Threshold,
)
from loadtests.thresholds import (
    CONVERSATION_P99_UNDER_DEADLINE,
    FEW_ERRORS,
    FRIENDSHIP_READ_FAST,
    HEALTH_FAST,
    MS,
    NIGHTLY_COMPLETED,
    NO_LB_504,
    NO_WORKER_RESTART,
    VALID_REQUESTS,
    faults_applied,
    traffic_happened,
)
from testbed.faults import FakeFaults, Toxic

# ---- three_am: the incident -----------------------------------------------------------

THREE_AM = Scenario(
    name="three_am",
    description=(
        "Evening traffic; at the 03:00 mark the nightly job starts while the LLM slows down "
        "beyond the load balancer timeout (Toxiproxy latency on the llm proxy); then recovery."
    ),
    stages=(
        Stage("baseline", 200, users=12),
        Stage("03:00 incident", 400, users=12),
        Stage("recovery", 300, users=12),
    ),
    faults=(
        ScheduledFault("nightly job", NightlyRun(), 200),
        ScheduledFault(
            "LLM +90 s latency",
            Toxic("llm", "latency", {"latency": 1.5 * LB_TIMEOUT_S * MS}),
            200,
            600,
        ),
    ),
    thresholds=(
        traffic_happened(100),
        VALID_REQUESTS,
        faults_applied(2),
        NO_LB_504,
        CONVERSATION_P99_UNDER_DEADLINE,
        FEW_ERRORS,
        NO_WORKER_RESTART,
        HEALTH_FAST,
        FRIENDSHIP_READ_FAST,
        NIGHTLY_COMPLETED,
        Threshold(
            "recovered",
            "recovery_lb_504_count",
            "==",
            0,
            "no LB 504 in the last half of the recovery stage: the incident is over",
        ),
    ),
)

# ---- llm_slow: the LLM is slower than its own timeout (but not than the LB) -----------

LLM_SLOW = Scenario(
    name="llm_slow",
    description="The LLM answers in 2x its call timeout (30 s x scale) for a while: timeouts, "
    "breaker and fallbacks keep answers fast and the event loop free.",
    stages=(
        Stage("baseline", 100, users=10),
        Stage("LLM slow", 300, users=10),
        Stage("recovery", 150, users=10),
    ),
    faults=(
        ScheduledFault(
            "LLM +30 s latency",
            Toxic("llm", "latency", {"latency": 2 * LLM_TIMEOUT_S * MS}),
            100,
            400,
        ),
    ),
    thresholds=(
        traffic_happened(60),
        VALID_REQUESTS,
        faults_applied(1),
        NO_LB_504,
        CONVERSATION_P99_UNDER_DEADLINE,
        FEW_ERRORS,
        HEALTH_FAST,
        FRIENDSHIP_READ_FAST,
    ),
)

# ---- llm_429_storm: rate limited by the LLM provider ------------------------------------

LLM_429_STORM = Scenario(
    name="llm_429_storm",
    description="90 % of LLM calls answer 429 with Retry-After: 1 s. Retries must honour it, "
    "stay bounded (no amplification) and fall back.",
    stages=(
        Stage("baseline", 100, users=10),
        Stage("429 storm", 300, users=10),
        Stage("recovery", 100, users=10),
    ),
    faults=(
        ScheduledFault(
            "LLM 429 storm (90 %)",
            FakeFaults(
                "llm",
                {
                    "error": {
                        "status": 429,
                        "mode": "fraction",
                        "fraction": 0.9,
                        "seed": 7,
                        "retry_after_s": 1.0,
                    }
                },
            ),
            100,
            400,
        ),
    ),
    thresholds=(
        traffic_happened(60),
        VALID_REQUESTS,
        faults_applied(1),
        Threshold(
            "llm_429_seen",
            "llm_429_responses",
            ">",
            0,
            "the fake LLM really answered 429s",
            role="sanity",
        ),
        Threshold(
            "llm_calls_per_conversation",
            "llm_calls_per_conversation",
            "<=",
            3,
            "LLM calls per conversation end <= 3, one per analysis task on average: retries "
            "are paid for by the breaker failing fast (no retry amplification)",
        ),
        NO_LB_504,
        CONVERSATION_P99_UNDER_DEADLINE,
        FEW_ERRORS,
        FRIENDSHIP_READ_FAST,
    ),
)

# ---- llm_flaky: transient LLM errors that a retry rides out -----------------------------

LLM_FLAKY = Scenario(
    name="llm_flaky",
    description="Every 5th analysis call to the LLM answers 503 once (a transient error, "
    "never 5 in a row: the breaker stays closed). Retries recover the analysis; without "
    "them about half of the conversations lose one (degraded).",
    stages=(
        Stage("baseline", 100, users=10),
        Stage("flaky LLM", 300, users=10),
        Stage("recovery", 100, users=10),
    ),
    faults=(
        ScheduledFault(
            "LLM 503 on every 5th analysis call",
            FakeFaults(
                "llm",
                {
                    "error": {"status": 503, "mode": "every_nth", "n": 5, "retry_after_s": 0},
                    "tasks": ["emotion", "questions", "topics"],
                },
            ),
            100,
            400,
        ),
    ),
    thresholds=(
        traffic_happened(60),
        VALID_REQUESTS,
        faults_applied(1),
        Threshold(
            "llm_errors_seen",
            "llm_503_responses",
            ">",
            0,
            "the fake LLM really answered 503s",
            role="sanity",
        ),
        Threshold(
            "full_analysis_kept",
            "conversation_end_degraded_rate",
            "<",
            0.15,
            "fewer than 15 % of conversation ends degraded: a retry recovers a transient error "
            "(3 attempts: ~2 % expected; a single attempt: ~1 - 0.8^3 = 49 % over the fault, "
            "~30 % over the run)",
        ),
        NO_LB_504,
        CONVERSATION_P99_UNDER_DEADLINE,
        FEW_ERRORS,
    ),
)

# ---- db_pool_exhaustion: nightly job + traffic + slow database --------------------------

DB_POOL_EXHAUSTION = Scenario(
    name="db_pool_exhaustion",
    description="Traffic while the nightly job runs against a slow database (Toxiproxy "
    "latency on the postgres proxy): bounded pools and the job bulkhead keep requests served.",
    stages=(
        Stage("baseline (build friendships)", 150, users=16),
        Stage("nightly on a slow DB", 300, users=16),
        Stage("recovery", 100, users=16),
    ),
    faults=(
        ScheduledFault(
            "postgres +500 ms latency", Toxic("postgres", "latency", {"latency": 500.0}), 150, 450
        ),
        ScheduledFault("nightly job", NightlyRun(), 150),
    ),
    thresholds=(
        traffic_happened(80),
        VALID_REQUESTS,
        faults_applied(2),
        NO_LB_504,
        CONVERSATION_P99_UNDER_DEADLINE,
        FEW_ERRORS,
        NO_WORKER_RESTART,
        HEALTH_FAST,
        FRIENDSHIP_READ_FAST,
        NIGHTLY_COMPLETED,
    ),
)

# ---- rate_limit_burst: one client bursts, the others must not notice ------------------

RATE_LIMIT_BURST = Scenario(
    name="rate_limit_burst",
    description="Normal users (one source address each) plus one client bursting "
    "POST /v1/activities/suggest far above 60/min: the limiter throttles the burster only.",
    stages=(
        Stage("baseline", 100, users=10),
        Stage("burst", 200, users=10, classes=(*DEFAULT_MIX, "Burster")),
        Stage("after", 100, users=10),
    ),
    thresholds=(
        traffic_happened(60),
        VALID_REQUESTS,
        Threshold(
            "burst_sent",
            "burst_requests",
            ">=",
            100,
            "the bursting client sent at least 100 requests (x duration factor)",
            role="sanity",
            per_duration=True,
        ),
        Threshold(
            "burster_throttled",
            "burst_429_count",
            ">",
            0,
            "the limiter answers the bursting client 429 (the share depends on the burst "
            "length against the limit window: see burst_429_fraction)",
        ),
        Threshold(
            "others_not_throttled",
            "others_429_count",
            "==",
            0,
            "no 429 for the other clients (the limiter keys on the forwarded client)",
        ),
        Threshold(
            "others_error_rate",
            "others_error_rate",
            "<",
            0.01,
            "the other clients see fewer than 1 % errors",
        ),
    ),
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (THREE_AM, LLM_429_STORM, LLM_SLOW, LLM_FLAKY, DB_POOL_EXHAUSTION, RATE_LIMIT_BURST)
}


class UnknownScenarioError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown load scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}")


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UnknownScenarioError(name) from None
