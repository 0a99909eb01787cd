"""The resilience building blocks on their own: retry, breaker, timeout, deadline. No sleeping."""

from __future__ import annotations

import asyncio
import random

import pytest

from refactored.core.resilience.breaker import CircuitBreaker
from refactored.core.resilience.deadline import request_deadline
from refactored.core.resilience.errors import (
    BreakerOpen,
    CallFailed,
    DeadlineExhausted,
    TransientFailure,
)
from refactored.core.resilience.policy import DependencyPolicy
from refactored.core.resilience.retry import RetryConfig, RetryPolicy

pytestmark = pytest.mark.unit


class Flaky:
    """Fails with ``errors`` in order, then answers "ok"; counts attempts."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.attempts = 0

    async def __call__(self) -> str:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(
    sleeps: list[float], attempts: int = 3, jitter: float = 0.0, retry_after_max: float = 60.0
) -> RetryPolicy:
    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return RetryPolicy(
        RetryConfig(attempts, 2.0, 8.0, jitter, retry_after_max),
        sleep=fake_sleep,
        rng=random.Random(1),
    )


async def test_retry_transient_with_exponential_backoff() -> None:
    sleeps: list[float] = []
    call = Flaky(TransientFailure("503"), TransientFailure("503"))
    assert await policy(sleeps).call(call) == "ok"
    assert call.attempts == 3
    assert sleeps == [2.0, 4.0]


async def test_retry_gives_up_after_attempts() -> None:
    sleeps: list[float] = []
    call = Flaky(*(TransientFailure("503") for _ in range(5)))
    with pytest.raises(TransientFailure):
        await policy(sleeps).call(call)
    assert call.attempts == 3


async def test_retry_jitter_stays_within_bounds() -> None:
    sleeps: list[float] = []
    call = Flaky(TransientFailure("x"), TransientFailure("x"))
    await policy(sleeps, jitter=1.0).call(call)
    assert 2.0 <= sleeps[0] <= 3.0 and 4.0 <= sleeps[1] <= 5.0


async def test_retry_honours_retry_after() -> None:
    sleeps: list[float] = []
    call = Flaky(TransientFailure("429", retry_after=7.0))
    await policy(sleeps).call(call)
    assert sleeps == [7.0]


async def test_retry_after_up_to_the_cap_is_honoured_in_full() -> None:
    sleeps: list[float] = []
    call = Flaky(TransientFailure("429", retry_after=60.0))
    assert await policy(sleeps, retry_after_max=60.0).call(call) == "ok"
    assert sleeps == [60.0]


async def test_retry_after_above_the_cap_gives_up_at_once_instead_of_waiting() -> None:
    """No request deadline here (the nightly job): only the cap stops an hour-long wait."""
    sleeps: list[float] = []
    call = Flaky(TransientFailure("429", retry_after=3600.0))
    with pytest.raises(TransientFailure, match="429"):
        await policy(sleeps, retry_after_max=60.0).call(call)
    assert (call.attempts, sleeps) == (1, [])


async def test_retry_never_retries_permanent_failures_or_cancellation() -> None:
    sleeps: list[float] = []
    permanent = Flaky(CallFailed("400"))
    with pytest.raises(CallFailed):
        await policy(sleeps).call(permanent)
    cancelled = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await policy(sleeps).call(cancelled)
    assert (permanent.attempts, cancelled.attempts, sleeps) == (1, 1, [])


async def test_retry_stops_when_the_wait_would_pass_the_request_deadline() -> None:
    sleeps: list[float] = []
    call = Flaky(TransientFailure("503"), TransientFailure("503"))
    with request_deadline(3.0), pytest.raises(TransientFailure):
        await policy(sleeps).call(call)  # first wait 2 s fits, the second (4 s) does not
    assert (call.attempts, sleeps) == (2, [2.0])


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """purgatory reads time.time(); give it a clock the test moves."""
    clock = FakeTime()
    import purgatory.domain.model as purgatory_model

    monkeypatch.setattr(purgatory_model, "time", clock)
    return clock


async def test_breaker_opens_after_threshold_and_fails_fast(fake_time: FakeTime) -> None:
    transitions: list[tuple[str, str, str]] = []
    breaker = CircuitBreaker("llm", 5, 60.0, lambda *t: transitions.append(t))
    failing = Flaky(*(TransientFailure("500") for _ in range(10)))
    for _ in range(5):
        with pytest.raises(TransientFailure):
            await breaker.call(failing)
    assert breaker.state == "open"
    with pytest.raises(BreakerOpen):
        await breaker.call(failing)
    assert failing.attempts == 5  # the sixth call never reached the dependency
    assert transitions == [("llm", "closed", "open")]


async def test_breaker_half_open_admits_a_single_probe(fake_time: FakeTime) -> None:
    breaker = CircuitBreaker("llm", 1, 60.0)
    with pytest.raises(TransientFailure):
        await breaker.call(Flaky(TransientFailure("500")))
    fake_time.now += 61
    release = asyncio.Event()
    probes = 0

    async def slow_probe() -> str:
        nonlocal probes
        probes += 1
        await release.wait()
        return "ok"

    probe = asyncio.create_task(breaker.call(slow_probe))
    await asyncio.sleep(0)  # let the probe start
    with pytest.raises(BreakerOpen):
        await breaker.call(slow_probe)
    release.set()
    assert await probe == "ok"
    assert probes == 1
    assert breaker.state == "closed"


async def test_breaker_reopens_when_the_probe_fails(fake_time: FakeTime) -> None:
    breaker = CircuitBreaker("memory", 1, 60.0)
    with pytest.raises(TransientFailure):
        await breaker.call(Flaky(TransientFailure("500")))
    fake_time.now += 61
    with pytest.raises(TransientFailure):
        await breaker.call(Flaky(TransientFailure("500")))
    assert breaker.state == "open"
    with pytest.raises(BreakerOpen):
        await breaker.call(Flaky())


async def test_breaker_ignores_cancellation(fake_time: FakeTime) -> None:
    breaker = CircuitBreaker("llm", 1, 60.0)
    with pytest.raises(asyncio.CancelledError):
        await breaker.call(Flaky(asyncio.CancelledError()))
    assert breaker.state == "closed"


async def test_policy_timeout_is_a_transient_failure() -> None:
    outcomes: list[str] = []

    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    stack = DependencyPolicy("llm", timeout_s=0.01, observe=lambda o, s: outcomes.append(o))
    with pytest.raises(TransientFailure, match="timed out"):
        await stack.call(hang)
    assert outcomes == ["timeout"]


async def test_open_breaker_stops_retries_in_progress(fake_time: FakeTime) -> None:
    sleeps: list[float] = []
    stack = DependencyPolicy(
        "llm", retry=policy(sleeps, attempts=3), breaker=CircuitBreaker("llm", 2, 60.0)
    )
    failing = Flaky(*(TransientFailure("500") for _ in range(10)))
    with pytest.raises(BreakerOpen):
        await stack.call(failing)
    assert failing.attempts == 2  # third attempt refused by the open breaker


async def test_attempt_timeout_shrinks_to_the_request_deadline() -> None:
    outcomes: list[str] = []

    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    stack = DependencyPolicy(
        "llm", timeout_s=60.0, deadline_reserve_s=0.05, observe=lambda o, s: outcomes.append(o)
    )
    with request_deadline(0.1), pytest.raises(TransientFailure, match="timed out"):
        await asyncio.wait_for(stack.call(hang), timeout=5)  # not 60 s
    with request_deadline(0.01), pytest.raises(DeadlineExhausted):
        await stack.call(hang)  # less time left than the reserve: not even attempted
    assert outcomes == ["timeout", "deadline"]
