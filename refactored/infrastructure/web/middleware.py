"""Pure ASGI middlewares: request id, metrics, body size limit, whole-request deadline."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from refactored.core.resilience.deadline import request_deadline
from refactored.infrastructure.observability.logging import conversation_id_var, request_id_var
from refactored.infrastructure.observability.metrics import http_request_duration

MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = f"request body exceeds {MAX_BODY_BYTES} bytes"
# Probes and scrapes must answer even when a request would be past its deadline.
NO_DEADLINE_PATHS = frozenset({"/health", "/health/ready", "/metrics"})
# A client's X-Request-ID is kept when it is short visible ASCII; anything else (which could
# not be echoed in a header or would garble a log line) is replaced by a fresh id.
_CLIENT_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,64}")


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestIdMiddleware:
    """X-Request-ID in and out on every response, and ``request_id`` on every log line.

    The outermost layer, outside Starlette's ServerErrorMiddleware (see
    ``refactored.main.ServiceApp``): the 500 that middleware answers carries the header
    too, and its log line the id. After an unhandled error the id stays set, so the
    server's own traceback line (uvicorn's) carries it as well.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"")
        valid = _CLIENT_REQUEST_ID.fullmatch(given)
        request_id = given.decode("ascii") if valid else uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)
        request_id_var.reset(token)


class ObservabilityMiddleware:
    """http_request_duration_seconds by route, and a fresh conversation id context."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conversation_token = conversation_id_var.set(None)
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            http_request_duration.labels(scope["method"], route, str(status)).observe(elapsed)
            watch = getattr(getattr(scope.get("app"), "state", None), "latency_watch", None)
            if watch is not None and route not in NO_DEADLINE_PATHS:
                watch.observe(elapsed)
            conversation_id_var.reset(conversation_token)


class BodySizeLimitMiddleware:
    """413 for bodies over 1 MiB: on Content-Length, and on the stream for chunked bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
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

        await self.app(scope, counting_receive, send)


class DeadlineMiddleware:
    """Answer 504 ``deadline_exceeded`` ourselves before the load balancer gives up.

    The deadline is also published to the retry policy (a backoff never sleeps past it).
    ``exempt_paths`` are not user traffic (the operator's nightly job): they carry their
    own bound.
    """

    def __init__(
        self, app: ASGIApp, seconds: float | None, exempt_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.seconds = seconds
        self.exempt = NO_DEADLINE_PATHS | exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds is None or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        timeout = asyncio.timeout(self.seconds)
        try:
            with request_deadline(self.seconds):
                async with timeout:
                    await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if not timeout.expired() or started:
                raise
            await send_json(
                send,
                504,
                {
                    "detail": f"request deadline of {self.seconds:.2f}s exceeded",
                    "error": "deadline_exceeded",
                },
            )
