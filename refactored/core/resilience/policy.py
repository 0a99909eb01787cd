"""One dependency's policy stack: retry( breaker( timeout( attempt ) ) ).

The breaker sees every attempt, so an open breaker also stops the retries of
calls already in progress (fail fast, then the caller's fallback). Each layer
is optional: a disabled policy is simply left out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from refactored.core.resilience.breaker import CircuitBreaker
from refactored.core.resilience.deadline import remaining
from refactored.core.resilience.errors import (
    CallFailed,
    DeadlineExhausted,
    RequestRejected,
    TransientFailure,
)
from refactored.core.resilience.retry import RetryPolicy

T = TypeVar("T")
log = logging.getLogger(__name__)
Observe = Callable[[str, float], None]  # (outcome, seconds)


@dataclass
class DependencyPolicy:
    name: str
    timeout_s: float | None = None
    retry: RetryPolicy | None = None
    breaker: CircuitBreaker | None = None
    observe: Observe | None = None
    # Dependency calls stop this long before the request deadline, so the
    # fallback can still be stored and answered in time.
    deadline_reserve_s: float = 0.0

    def _attempt_timeout(self) -> float | None:
        """The per-call timeout, shortened to what is left of the request deadline."""
        left = remaining()
        if left is None:
            return self.timeout_s
        budget = left - self.deadline_reserve_s
        if budget <= 0:
            raise DeadlineExhausted(f"{self.name}: no time left before the request deadline")
        return budget if self.timeout_s is None else min(self.timeout_s, budget)

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        async def guarded() -> T:
            if self.breaker is None:
                return await self._timed(attempt)
            return await self.breaker.call(lambda: self._timed(attempt))

        if self.retry is None:
            return await guarded()
        return await self.retry.call(guarded)

    async def _timed(self, attempt: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        outcome = "error"
        try:
            timeout_s = self._attempt_timeout()
            if timeout_s is None:
                result = await attempt()
            else:
                try:
                    async with asyncio.timeout(timeout_s):
                        result = await attempt()
                except TimeoutError as exc:
                    outcome = "timeout"
                    raise TransientFailure(f"{self.name} timed out after {timeout_s:.2f}s") from exc
            outcome = "success"
            return result
        except DeadlineExhausted:
            outcome = "deadline"
            raise
        except TransientFailure as exc:
            if outcome != "timeout":
                outcome = "rate_limited" if exc.retry_after is not None else "transient_error"
            raise
        except RequestRejected as exc:  # counted as failed; the breaker leaves it alone
            outcome = "failed"
            log.warning(
                "dependency rejected the request",
                extra={"dependency": self.name, "reason": str(exc)},
            )
            raise
        except CallFailed:
            outcome = "failed"
            raise
        finally:
            if self.observe is not None:
                self.observe(outcome, time.perf_counter() - started)
