"""Bounded retries with tenacity: named transient errors only, capped by attempts and deadline.

Backoff is exponential (2-4-8 s x TIME_SCALE) with jitter; a ``Retry-After`` from
the dependency is honoured (the wait is at least that long) up to
``retry_after_max_s``. Retrying stops when the attempts are used up, the next
wait would end after the request deadline, *or* the dependency asks to wait
longer than ``retry_after_max_s``: then the call fails now (to its fallback)
instead of waiting a shorter time than asked and being refused again, or
waiting as long as asked where no deadline bounds it (the nightly job).
Cancellation is never retried (tenacity re-raises it untouched).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from refactored.core.resilience.deadline import remaining
from refactored.core.resilience.errors import TransientFailure

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryConfig:
    attempts: int = 3
    initial_s: float = 2.0
    max_s: float = 8.0
    jitter_s: float = 1.0
    retry_after_max_s: float = 60.0

    def backoff(self, attempt_number: int, rng: random.Random) -> float:
        """Wait after attempt ``attempt_number`` (1-based): 2, 4, 8... capped, plus jitter."""
        base = min(self.initial_s * 2 ** (attempt_number - 1), self.max_s)
        return base + rng.uniform(0, self.jitter_s)


@dataclass
class RetryPolicy:
    config: RetryConfig
    sleep: Sleep = asyncio.sleep
    rng: random.Random | None = None
    on_retry: Callable[[], None] | None = None
    deadline_reserve_s: float = 0.0  # see DependencyPolicy.deadline_reserve_s

    @staticmethod
    def _retry_after(state: RetryCallState) -> float | None:
        exc = state.outcome.exception() if state.outcome else None
        return exc.retry_after if isinstance(exc, TransientFailure) else None

    def _wait(self, state: RetryCallState) -> float:
        wait = self.config.backoff(state.attempt_number, self.rng or random.Random())
        retry_after = self._retry_after(state)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.config.attempts:
            return True
        retry_after = self._retry_after(state)
        if retry_after is not None and retry_after > self.config.retry_after_max_s:
            return True  # asked to wait longer than we ever do: give up now (module doc)
        left = remaining()
        return left is not None and state.upcoming_sleep >= left - self.deadline_reserve_s

    def _before_sleep(self, state: RetryCallState) -> None:
        if self.on_retry is not None:
            self.on_retry()

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        # The first attempt runs without tenacity (building its machinery per call cost
        # more CPU than the HTTP call's own parsing, docs/performance.md); a transient
        # failure is replayed as tenacity's first attempt, which then decides exactly as
        # if it had run it: the wait, the stop, the retries.
        try:
            return await attempt()
        except TransientFailure as exc:
            first: list[TransientFailure] = [exc]

        async def replay_first_then_attempt() -> T:
            if first:
                raise first.pop()
            return await attempt()

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientFailure),
            wait=self._wait,
            stop=self._stop,
            sleep=self.sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        async for try_ in retrying:
            with try_:
                return await replay_first_then_attempt()
        raise AssertionError("unreachable: tenacity re-raises the last error")
