"""What the policies raise; adapters translate these into the project's own errors."""

from __future__ import annotations


class CallFailed(Exception):
    """A dependency call failed in a way that retrying will not fix (4xx, malformed answer)."""


class TransientFailure(CallFailed):
    """A failure worth retrying: 429, 5xx, connect error, timeout."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestRejected(CallFailed):
    """The dependency answered and refused *this request* (400, 404, 422...).

    It says the request was wrong, not that the dependency is unhealthy: not retried, and
    the breaker does not count it (the call still fails to its fallback).
    """


class BreakerOpen(CallFailed):
    """The circuit breaker is open (or half-open with its probe in flight): failing fast."""


class DeadlineExhausted(CallFailed):
    """No time is left before the request deadline: the call is not even attempted."""
