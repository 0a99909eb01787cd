"""RequestPipeline: the per-request policies of every route in one pure-ASGI layer.

In order, outermost first: the request metrics and a fresh conversation-id context; the
rate limit (counted before routing, body reading and validation); the 1 MiB body limit;
the whole-request deadline (504 ``deadline_exceeded`` before the load balancer gives up,
published to the retry policy). One layer instead of four: one frame and one ``send``
wrapper per request (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from refactored.core.resilience.deadline import request_deadline
from refactored.infrastructure.observability.logging import conversation_id_var
from refactored.infrastructure.observability.metrics import http_request_duration
from refactored.infrastructure.web.limiter import RateLimits
from refactored.infrastructure.web.middleware import (
    MAX_BODY_BYTES,
    NO_DEADLINE_PATHS,
    TOO_LARGE,
    send_json,
)
from refactored.infrastructure.web.rate_limit import RateLimitGate

MAX_LABEL_SETS = 1024  # request metric children kept at hand (methods come from clients)


class RequestPipeline:
    def __init__(
        self,
        app: ASGIApp,
        limits: RateLimits,
        deadline_s: float | None,
        exempt_paths: frozenset[str] = frozenset(),
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.rate_limit = RateLimitGate(limits)
        self.deadline_s = deadline_s
        self.exempt = NO_DEADLINE_PATHS | exempt_paths  # exempt_paths carry their own bound
        self.max_bytes = max_body_bytes
        self._durations: dict[tuple[str, str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conversation_token = conversation_id_var.set(None)
        status = 0  # no response started yet
        started = time.perf_counter()

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if await self.rate_limit.admit(scope, tracking_send):
                await self._bounded(scope, receive, tracking_send, lambda: status != 0)
        finally:
            self._observe(scope, status or 500, time.perf_counter() - started)
            conversation_id_var.reset(conversation_token)

    async def _bounded(
        self, scope: Scope, receive: Receive, send: Send, responded: Callable[[], bool]
    ) -> None:
        """413 for bodies over the limit: on Content-Length, on the stream when chunked."""
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await send_json(send, 413, {"detail": TOO_LARGE})
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, TOO_LARGE)
            return message

        if self.deadline_s is None or scope["path"] in self.exempt:
            await self.app(scope, counting_receive, send)
            return
        await self._within_deadline(scope, counting_receive, send, responded)

    async def _within_deadline(
        self, scope: Scope, receive: Receive, send: Send, responded: Callable[[], bool]
    ) -> None:
        seconds = self.deadline_s
        assert seconds is not None
        timeout = asyncio.timeout(seconds)
        try:
            with request_deadline(seconds):
                async with timeout:
                    await self.app(scope, receive, send)
        except TimeoutError:
            if not timeout.expired() or responded():
                raise
            detail = f"request deadline of {seconds:.2f}s exceeded"
            await send_json(send, 504, {"detail": detail, "error": "deadline_exceeded"})

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        """http_request_duration_seconds by route; the latency watch for user traffic."""
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        labels = (scope["method"], route, str(status))
        child = self._durations.get(labels)
        if child is None:
            child = http_request_duration.labels(*labels)
            if len(self._durations) < MAX_LABEL_SETS:
                self._durations[labels] = child
        child.observe(elapsed)
        watch = getattr(getattr(scope.get("app"), "state", None), "latency_watch", None)
        if watch is not None and route not in NO_DEADLINE_PATHS:
            watch.observe(elapsed)


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The header's last value (as ``dict(headers)`` has it), without building the dict."""
    found = None
    for key, value in scope.get("headers", ()):
        if key == name:
            found = value
    return found
