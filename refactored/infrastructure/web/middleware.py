"""RequestIdMiddleware (outermost) and what every layer shares to answer on its own.

The per-request policies below it are one layer, pipeline.RequestPipeline."""

from __future__ import annotations

import json
import re
from random import getrandbits
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from refactored.infrastructure.observability.logging import request_id_var

MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = f"request body exceeds {MAX_BODY_BYTES} bytes"
# Probes and scrapes must answer even when a request would be past its deadline.
NO_DEADLINE_PATHS = frozenset({"/health", "/health/ready", "/metrics"})
# A client's X-Request-ID is kept when it is short visible ASCII; anything else (which could
# not be echoed in a header or would garble a log line) is replaced by a fresh id.
_CLIENT_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,64}")
# uuid4's version (4) and variant (RFC 4122) bits, set on 128 random bits
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_request_id() -> str:
    """A fresh id formatted as ``uuid4().hex``. An id must be unique, not secret: the
    Mersenne Twister (reseeded from the OS in every forked worker) spares the system call
    uuid4 makes per request (docs/performance.md)."""
    return f"{getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"


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
        request_id = given.decode("ascii") if valid else new_request_id()
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
