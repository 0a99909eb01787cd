"""The whole-request deadline, visible to every policy below the HTTP edge.

The HTTP middleware sets it; retries read :func:`remaining` so a backoff never
sleeps past it. A contextvar (not a parameter) because it crosses every layer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


@contextmanager
def request_deadline(seconds: float | None) -> Iterator[None]:
    """Set the deadline ``seconds`` from now (None: no deadline) for the enclosed code."""
    when = None if seconds is None else asyncio.get_running_loop().time() + seconds
    token = _deadline.set(when)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the request deadline, or None when there is none."""
    when = _deadline.get()
    if when is None:
        return None
    return when - asyncio.get_running_loop().time()
