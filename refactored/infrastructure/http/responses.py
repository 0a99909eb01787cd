"""Classify an HTTP answer or transport error: transient (retry) or final failure."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from refactored.core.resilience.errors import CallFailed, RequestRejected, TransientFailure

# 4xx answers that are about the caller's credentials or the link, not this request's
# content: they fail every call alike, so the breaker counts them.
NOT_THE_REQUEST = frozenset({401, 403, 407, 408})


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: rare from LLM APIs; fall back to our own backoff


def check_status(response: httpx.Response, dependency: str) -> None:
    status = response.status_code
    if status == 429:
        # Retry-After may be absent; 0.0 still marks the failure as rate limiting.
        raise TransientFailure(
            f"{dependency} rate limited (429)", retry_after=retry_after_seconds(response) or 0.0
        )
    if status >= 500:
        raise TransientFailure(f"{dependency} answered {status}")
    if status >= 400 and status not in NOT_THE_REQUEST:
        raise RequestRejected(f"{dependency} rejected the request ({status})")
    if status >= 400:
        raise CallFailed(f"{dependency} answered {status}")


def json_body(response: httpx.Response, dependency: str) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CallFailed(f"{dependency} answered a body that is not JSON") from exc


async def send(request: Callable[[], Awaitable[httpx.Response]], dependency: str) -> httpx.Response:
    """Run one HTTP request; transport errors and client timeouts are transient."""
    try:
        response = await request()
    except httpx.TimeoutException as exc:
        raise TransientFailure(f"{dependency} timed out: {exc!r}") from exc
    except httpx.TransportError as exc:
        raise TransientFailure(f"{dependency} unreachable: {exc!r}") from exc
    check_status(response, dependency)
    return response
