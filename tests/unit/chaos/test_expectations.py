"""Scenario expectations evaluated from synthetic measurements: a refactored-like outcome
passes, a legacy-like (incident) outcome fails the same resilience checks."""

from __future__ import annotations

import pytest

from chaos.load_plan import ACTIVITIES, END, HEALTH, READY, Sample
from chaos.measure import parse_metrics
from chaos.scenarios import registry
from chaos.scenarios.checks import is_lb_504
from chaos.scenarios.engine import build_result

from .helpers import context, measurements, samples

pytestmark = pytest.mark.unit


def by_name(expectations):  # type: ignore[no-untyped-def]
    return {e.name: e for e in expectations}


def span(seconds: float, *, released: bool = False) -> dict[str, object]:
    """One conversation as the fake LLM's hang saw it (doubles.fakes.control.Hangs)."""
    return {"span_s": seconds, "released": released}


def test_llm_latency_refactored_outcome_passes_legacy_outcome_is_an_expected_failure() -> None:
    scenario = registry()["llm_latency"]
    fast = samples(40, start_s=0, end_s=14, latency_ms=40.0, degraded=("emotion", "questions"))
    ctx = context("refactored")
    m = measurements(fast)
    result = build_result(scenario, ctx, m, scenario.evaluate(ctx, m), "2026-01-01T00:00:00+00:00")
    assert result.verdict == "pass", [e.describe() for e in result.failed_expectations()]

    legacy_load = samples(10, start_s=0, end_s=2, latency_ms=30.0) + samples(
        12, start_s=2, end_s=12, status=504, latency_ms=6000.0
    )
    blocked_health = samples(50, start_s=0, end_s=14, endpoint=HEALTH, latency_ms=2500.0)
    ctx = context("legacy")
    m = measurements(legacy_load, blocked_health)
    result = build_result(scenario, ctx, m, scenario.evaluate(ctx, m), "2026-01-01T00:00:00+00:00")
    failed = {e.name for e in result.failed_expectations()}
    assert {"no_504", "conversation_end_2xx_share", "health_p95_ms_during_fault"} <= failed
    assert result.expected_to_fail and result.verdict == "expected_fail"
    assert result.status_counts == {"200": 10, "504": 12}


def test_a_fault_that_was_not_confirmed_makes_the_result_invalid() -> None:
    scenario = registry()["llm_latency"]
    ctx = context("refactored")
    m = measurements(samples(40, start_s=0, end_s=14))
    m.faults_confirmed = False
    result = build_result(scenario, ctx, m, scenario.evaluate(ctx, m), "x")
    assert result.verdict == "invalid"


def test_llm_429_storm_divides_calls_reaching_the_fake_by_conversations_sent() -> None:
    scenario = registry()["llm_429_storm"]
    load = samples(20, start_s=0, end_s=12, degraded=("emotion",))
    ctx = context("legacy")
    m = measurements(load)
    sent = len(m.during())
    m.llm_stats = {"calls_total": 600, "responses_by_status": {"429": 600}}
    # legacy: a 10-attempt loop on each of the 3 tasks of every conversation sent
    ctx.facts.update(storm_llm_calls=30 * sent, storm_failed_tasks=60)
    checks = by_name(scenario.evaluate(ctx, m))
    assert checks["llm_calls_per_conversation"].observed == 30
    assert not checks["llm_calls_per_conversation"].passed
    assert checks["llm_answered_429"].passed  # sanity: the fault happened
    # 9 attempts per call on every conversation: over the budget, however many tasks an
    # open breaker failed fast (the old divisor, failed tasks, would have hidden this)
    ctx.facts.update(storm_llm_calls=27 * sent, storm_failed_tasks=27 * sent)
    assert not by_name(scenario.evaluate(ctx, m))["llm_calls_per_conversation"].passed
    ctx.facts.update(storm_llm_calls=3 * sent)
    assert by_name(scenario.evaluate(ctx, m))["llm_calls_per_conversation"].passed
    ctx.facts.pop("storm_llm_calls")  # the fake was not read: not measured, not a pass
    assert by_name(scenario.evaluate(ctx, m))["llm_calls_per_conversation"].observed is None


def test_llm_429_transient_checks_that_retries_wait_for_retry_after() -> None:
    scenario = registry()["llm_429_transient"]
    ctx = context("legacy")
    m = measurements(samples(20, start_s=0, end_s=12))
    # legacy: 0.2 s fixed sleeps against Retry-After: 1
    m.llm_stats = {"retries_after_error": {"count": 540, "median_wait_over_retry_after": 0.2}}
    assert not by_name(scenario.evaluate(ctx, m))["retry_waits_honour_retry_after"].passed
    m.llm_stats = {"retries_after_error": {"count": 6, "median_wait_over_retry_after": 1.04}}
    assert by_name(scenario.evaluate(ctx, m))["retry_waits_honour_retry_after"].passed
    m.llm_stats = {"retries_after_error": {"count": 0, "median_wait_over_retry_after": None}}
    never_retried = by_name(scenario.evaluate(ctx, m))["retry_waits_honour_retry_after"]
    assert never_retried.observed is None and not never_retried.passed


METRICS_BEFORE = """
# HELP circuit_breaker_transitions_total transitions
# TYPE circuit_breaker_transitions_total counter
circuit_breaker_transitions_total{dependency="llm",from_state="closed",to_state="open"} 1.0
"""
METRICS_AFTER = """
# HELP circuit_breaker_transitions_total transitions
# TYPE circuit_breaker_transitions_total counter
circuit_breaker_transitions_total{dependency="llm",from_state="closed",to_state="open"} 3.0
circuit_breaker_transitions_total{dependency="llm",from_state="open",to_state="half_open"} 2.0
circuit_breaker_transitions_total{dependency="llm",from_state="half_open",to_state="closed"} 1.0
# HELP event_loop_lag_max_seconds lag
# TYPE event_loop_lag_max_seconds gauge
event_loop_lag_max_seconds{pid="1"} 0.004
event_loop_lag_max_seconds{pid="2"} 0.012
"""


def test_breaker_transitions_are_deltas_over_the_scenario() -> None:
    m = measurements(samples(5, start_s=0, end_s=1))
    m.metrics_before, m.metrics_after = parse_metrics(METRICS_BEFORE), parse_metrics(METRICS_AFTER)
    assert m.transitions_to("llm", "open") == 2
    assert m.transitions_to("llm", "half_open") == 2
    assert m.transitions_to("llm", "closed") == 1
    assert m.transitions_to("memory", "open") == 0
    assert m.gauge_max("event_loop_lag_max_seconds") == pytest.approx(0.012)


def test_db_down_wants_fast_503_with_retry_after_and_readiness_failing() -> None:
    scenario = registry()["db_down"]
    ctx = context("refactored")
    load = (
        samples(10, start_s=0, end_s=2)
        + samples(20, start_s=2, end_s=8, status=503, latency_ms=15.0, retry_after="1")
        + samples(10, start_s=8, end_s=13)
        + samples(12, start_s=2, end_s=8, endpoint=READY, status=503)
    )
    m = measurements(load, window=(2, 8))
    m.integrity = {
        "lost_updates": 0,
        "duplicated_updates": 0,
        "half_written": 0,
        "topic_mismatches": 0,
    }
    checks = by_name(scenario.evaluate(ctx, m))
    assert all(e.passed for e in checks.values()), [e.describe() for e in checks.values()]

    legacy = samples(20, start_s=2, end_s=8, status=500, latency_ms=15.0) + samples(
        10, start_s=8, end_s=13
    )
    m = measurements(legacy, window=(2, 8))
    m.integrity = {
        "lost_updates": 0,
        "duplicated_updates": 0,
        "half_written": 2,
        "topic_mismatches": 0,
    }
    checks = by_name(scenario.evaluate(ctx, m))
    assert not checks["db_down_503_retry_after_share"].passed
    assert not checks["nothing_half_written"].passed
    assert checks["readiness_503_share"].observed is None  # no probe measured: fails


def test_rate_limit_burst_separates_the_burster_from_the_others() -> None:
    scenario = registry()["rate_limit_burst"]
    ctx = context("refactored")
    burst = samples(120, start_s=2, end_s=4, endpoint=ACTIVITIES, client="burster") + samples(
        80, start_s=2, end_s=4, endpoint=ACTIVITIES, client="burster", status=429, retry_after="30"
    )
    others = samples(30, start_s=0, end_s=9, client="c1")
    checks = by_name(scenario.evaluate(ctx, measurements(burst + others)))
    assert all(e.passed for e in checks.values()), [e.describe() for e in checks.values()]
    unlimited = samples(200, start_s=2, end_s=4, endpoint=ACTIVITIES, client="burster")
    checks = by_name(scenario.evaluate(ctx, measurements(unlimited + others)))
    assert not checks["burster_429_share"].passed
    assert checks["burster_429_retry_after"].observed is None


def test_the_app_deadline_504_is_not_the_load_balancers() -> None:
    app, lb = (
        samples(1, start_s=0, end_s=1, status=504, error="deadline_exceeded")[0],
        samples(1, start_s=0, end_s=1, status=504)[0],
    )
    assert not is_lb_504(app) and is_lb_504(lb)


def test_result_carries_series_windows_and_per_endpoint_figures() -> None:
    scenario = registry()["timeout_ordering"]
    ctx = context("refactored")
    load = samples(30, start_s=0, end_s=12) + samples(5, start_s=1, end_s=10, endpoint=ACTIVITIES)
    m = measurements(load)
    m.fake_series = {"llm": [(12.0, {"hangs": {"held": 1, "conversations": [span(1.5)]}})]}
    result = build_result(scenario, ctx, m, scenario.expectations(ctx, m), "x")
    assert set(result.endpoints) == {END, ACTIVITIES}
    assert result.endpoints[END]["count"] == 30
    assert result.series["t_s"][0] == 0 and sum(result.series["requests"]) == 35
    assert result.fault_windows == [{"label": "fault", "start_s": 2, "end_s": 12}]
    assert result.health_latency_ms["count"] > 0
    assert result.to_dict()["verdict"] == "pass"


def test_llm_down_counts_undegraded_answers_after_recovery_as_recovered() -> None:
    scenario = registry()["llm_down"]
    ctx = context("refactored")
    fault = (2.0, 9.2)
    tail_start = fault[1] + ctx.breaker_recovery_s + 1.0
    load = samples(20, start_s=2, end_s=9, degraded=("emotion", "questions", "topics")) + samples(
        10, start_s=tail_start, end_s=tail_start + 2, degraded=()
    )
    checks = by_name(scenario.evaluate(ctx, measurements(load, window=fault)))
    assert checks["recovered_full_analysis_share"].observed == 1.0
    still_degraded = samples(10, start_s=tail_start, end_s=tail_start + 2, degraded=("emotion",))
    checks = by_name(scenario.evaluate(ctx, measurements(still_degraded, window=fault)))
    assert checks["recovered_full_analysis_share"].observed == 0.0


@pytest.mark.parametrize(
    ("conversations", "observed"),
    [
        # refactored: each conversation's calls cut at the LLM timeout (and a retry), well
        # within LB - 1 s; one released by the end of the hang before anyone had to decide
        # does not count
        ([span(1.5), span(2.2), span(1.6), span(0.9, released=True)], 1.0),
        # no timeout: every conversation waited on until the hang ended
        ([span(8.0, released=True), span(7.1, released=True)], 0.0),
        # legacy: each call cut by httpx's default 5 s, but three in a row: 5 s, then the
        # next one held until the hang ended
        ([span(8.4, released=True), span(10.0)], 0.0),
        ([], None),  # nothing held
    ],
)
def test_timeouts_ordered_is_what_the_fake_saw_of_its_hung_calls(
    conversations: list[dict[str, object]], observed: float | None
) -> None:
    scenario = registry()["timeout_ordering"]
    hangs = {"held": len(conversations), "conversations": conversations}
    for target in ("legacy", "refactored"):  # the same measurement, whatever the target
        ctx = context(target)
        m = measurements(samples(20, start_s=0, end_s=12))
        m.fake_series = {"llm": [(0.0, {}), (12.5, {"hangs": hangs})]}
        check = by_name(scenario.evaluate(ctx, m))["timeouts_ordered"]
        assert check.observed == observed
        assert check.passed is (observed == 1.0)


@pytest.mark.parametrize(
    ("job", "triggered", "completed"),
    [
        ({"status": 200, "seeded_decayed": 40}, True, True),
        ({"status": 503, "seeded_decayed": 0}, True, False),  # the job exhausted its pool
        ({"status": None, "response": "RemoteProtocolError", "seeded_decayed": 12}, True, False),
        ({"status": None, "response": "ConnectError", "seeded_decayed": 0}, False, False),
        ({"status": 401, "seeded_decayed": 0}, False, False),  # wrong token: no job at all
    ],
)
def test_db_pool_exhaustion_tells_a_job_that_failed_from_one_never_started(
    job: dict[str, object], triggered: bool, completed: bool
) -> None:
    scenario = registry()["db_pool_exhaustion"]
    ctx = context("refactored")
    ctx.facts["nightly_job"] = job
    m = measurements(samples(20, start_s=0, end_s=12))
    m.windows.append({"label": "nightly_job", "start_s": 2.0, "end_s": 8.0})
    checks = by_name(scenario.evaluate(ctx, m))
    assert checks["nightly_job_triggered"].passed is triggered
    assert checks["nightly_job_completed"].passed is completed


def test_rate_limit_spoofed_holds_each_burst_to_the_configured_limit() -> None:
    from chaos.scenarios.rate_limit_spoofed import ATTEMPTS, configured_limit, per_minute

    scenario = registry()["rate_limit_spoofed"]
    ctx = context("refactored")
    own = {"RATE_LIMIT_DEFAULT": "40 per minute"}  # the target's own setting wins
    ctx.endpoints.env = {**ctx.endpoints.env, **own}
    limits = {a.name: configured_limit(ctx.endpoints.env, a) for a in ATTEMPTS}
    assert limits == {"forged_xff": 60, "many_urls": 40, "both_workers": 300}
    plan = scenario.plan(ctx)
    assert {b.name: b.count for b in plan.bursts} == {n: 3 * v for n, v in limits.items()}
    assert len({b.address for b in plan.bursts}) == 1  # one real client
    assert {b.address for b in plan.bursts}.isdisjoint(c.address for c in plan.clients)
    forged, spread = plan.bursts[0], plan.bursts[1]
    assert forged.forge_xff and spread.spread_users

    def outcome(passed_factor: float) -> list[Sample]:
        out = samples(30, start_s=0, end_s=12, client="c1")
        for i, (name, limit) in enumerate(limits.items()):
            start = 1.5 + 3 * i
            passed = int(limit * passed_factor)
            out += samples(passed, start_s=start, end_s=start + 2, client=name, latency_ms=900)
            out += samples(
                max(1, 3 * limit - passed),  # (legacy: one 429 would be one too many)
                start_s=start,
                end_s=start + 2,
                client=name,
                status=429 if passed < 3 * limit else 200,
                retry_after="59",
                latency_ms=900,
            )
        return out

    checks = by_name(scenario.evaluate(ctx, measurements(outcome(1.0))))
    assert all(e.passed for e in checks.values()), [e.describe() for e in checks.values()]
    assert checks["many_urls_passed"].observed == 40
    # one budget per worker: twice the limit through each burst
    checks = by_name(scenario.evaluate(ctx, measurements(outcome(2.0))))
    assert {n for n, e in checks.items() if not e.passed} == {
        f"{a.name}_{k}" for a in ATTEMPTS for k in ("passed", "429_share")
    }
    # legacy: no limiter, every request served, an expected failure
    legacy = context("legacy")
    legacy.endpoints.env = {**legacy.endpoints.env, **own}  # the bursts' same sizes
    m = measurements(outcome(3.0))
    result = build_result(scenario, legacy, m, scenario.evaluate(legacy, m), "x")
    assert result.verdict == "expected_fail"
    legacy_checks = by_name(result.expectations)
    assert legacy_checks["forged_xff_429_share"].observed == 0.0
    assert legacy_checks["forged_xff_429_retry_after"].observed is None
    with pytest.raises(ValueError, match="RATE_LIMIT_X"):
        per_minute("10/second", "RATE_LIMIT_X")


def test_failures_are_503_retry_after_is_not_a_vacuous_pass_when_nothing_failed() -> None:
    """1.0 of no failures proved nothing: too few failed requests to judge fail the check."""
    scenario = registry()["db_latency"]
    ctx = context("refactored")
    all_ok = by_name(scenario.evaluate(ctx, measurements(samples(30, start_s=0, end_s=14))))
    check = all_ok["failures_are_503_retry_after"]
    assert not check.passed and check.undersampled
    assert check.samples == 0 and check.min_samples == 5
    assert check.describe().endswith("[not judged: 0 sample(s), fewer than the 5 a share needs]")
    few = samples(20, start_s=0, end_s=14) + samples(
        3, start_s=3, end_s=9, status=503, retry_after="1"
    )
    assert not by_name(scenario.evaluate(ctx, measurements(few)))[
        "failures_are_503_retry_after"
    ].passed
    enough = samples(20, start_s=0, end_s=14) + samples(
        8, start_s=3, end_s=9, status=503, retry_after="1"
    )
    check = by_name(scenario.evaluate(ctx, measurements(enough)))["failures_are_503_retry_after"]
    assert check.passed and check.observed == 1.0 and check.samples == 8


@pytest.mark.parametrize(
    "name",
    ["llm_latency", "llm_down", "memory_api_down", "llm_429_storm", "llm_429_transient",
     "broker_down", "db_down"],
)  # fmt: skip
def test_share_expectations_over_an_empty_window_fail_as_not_judged(name: str) -> None:
    """A 2xx share over an empty fault window is not a pass: every share carries the sample
    count it was judged on and fails below the minimum."""
    empty = measurements(samples(6, start_s=0, end_s=1.5))  # nothing inside the 2-12 s window
    checks = registry()[name].evaluate(context("refactored"), empty)
    shares = [c for c in checks if c.name.endswith("_share")]
    assert shares, name
    for check in shares:
        assert check.samples is not None and check.undersampled, check.describe()
        assert not check.passed
