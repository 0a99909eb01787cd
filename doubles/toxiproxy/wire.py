"""The API's answers byte for byte as Toxiproxy 2.12's Go stack writes them.

Toxiproxy serves its API through gorilla/mux with middlewares (``api.go`` ``Routes``): every
request that matches a route gets an ``X-Toxiproxy-Request-Id`` (zerolog's ``hlog``, an
``xid``), and a ``User-Agent`` starting with ``Mozilla/`` is refused with 403 (a guard
against browsers driving the admin API from another site). A request that matches no route
skips the middlewares: mux's plain 404 or an empty 405. JSON is ``encoding/json``'s compact
form. This module is that layer; the routes live in api.py.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from doubles.toxiproxy import VERSION

REQUEST_ID_HEADER = "X-Toxiproxy-Request-Id"
# Toxiproxy sends no Server header; this one is where this server says what it is
SERVER_HEADER = f"doubles.toxiproxy (Toxiproxy {VERSION} API)"
JSON_TYPE = "application/json"  # as Toxiproxy sets it on every JSON answer but /version
VERSION_TYPE = "application/json;charset=utf-8"  # /version's own, spelled as Go has it

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestIds:
    """``xid`` ids as hlog makes them: 12 bytes, in lowercase base32hex (20 characters).

    Seconds since the epoch (4 bytes), a machine id (3), the process id (2) and a counter
    from a random start (3), so ids sort by time and never repeat within a process.
    """

    def __init__(self) -> None:
        self._machine = hashlib.md5(socket.gethostname().encode(), usedforsecurity=False).digest()
        self._counter = itertools.count(int.from_bytes(os.urandom(3), "big"))

    def next(self) -> str:
        raw = (
            struct.pack(">I", int(time.time()) & 0xFFFFFFFF)
            + self._machine[:3]
            + struct.pack(">H", os.getpid() & 0xFFFF)
            + (next(self._counter) & 0xFFFFFF).to_bytes(3, "big")
        )
        return base64.b32hexencode(raw).decode("ascii").rstrip("=").lower()


def go_json(value: object) -> bytes:
    """``json.Marshal``: compact, UTF-8, with ``<``, ``>``, ``&``, U+2028/9 escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)  # these only ever occur inside JSON strings
    return text.encode()


def json_response(value: object, status: int = 200) -> web.Response:
    """A JSON answer as Toxiproxy's handlers write it: no charset, no trailing newline."""
    return web.Response(body=go_json(value), status=status, headers={"Content-Type": JSON_TYPE})


def http_error(text: str, status: int) -> web.Response:
    """Go's ``http.Error``: the text and a newline, as ``text/plain; charset=utf-8``."""
    return web.Response(
        text=text + "\n",
        status=status,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def _unrouted(status: int) -> web.Response:
    """mux's answers when no route matches: Go's ``NotFound``, or a bare 405."""
    if status == 405:
        return web.Response(status=405)
    return http_error("404 page not found", 404)


def middleware(ids: RequestIds) -> Middleware:
    """The mux middlewares of Toxiproxy's ``Routes``, in their order (request id first)."""

    @web.middleware
    async def toxiproxy_middlewares(request: web.Request, handler: Handler) -> web.StreamResponse:
        unrouted = request.match_info.http_exception
        if unrouted is not None:
            return _unrouted(unrouted.status)
        request_id = ids.next()
        if request.headers.get("User-Agent", "").startswith("Mozilla/"):
            response: web.StreamResponse = http_error("User agent not allowed", 403)
        else:
            response = await handler(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    return toxiproxy_middlewares


async def identify(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: this server's name instead of aiohttp's ``Server``."""
    response.headers["Server"] = SERVER_HEADER
