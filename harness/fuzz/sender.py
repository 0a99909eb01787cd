"""Send fuzz requests from several loopback source addresses, never with the admin token.

Refactored rate-limits each client per route (about 100 requests a minute, docs/conventions.md §2,
keyed on the address the load balancer forwards). One client per source address
127.0.<k>.<n>, taken in turn, spreads the fuzz so it measures input handling, not 429s;
429s are still counted apart. Where extra loopback addresses cannot be bound (not Linux),
every request goes from 127.0.0.1 and a short pause paces them instead.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from types import TracebackType

import httpx

from harness.fuzz.model import FuzzRequest, Outcome
from testbed.net import LOOPBACK

DEFAULT_SOURCES = 32
FALLBACK_PAUSE_S = 0.7  # one address: under 100 a minute per route


class AdminTokenRefused(RuntimeError):
    """A fuzz request carried the stack's real admin token: it would run the nightly job."""


def source_addresses(count: int) -> list[str]:
    """``count`` bindable loopback addresses (127.0.1.1, 127.0.1.2, ...), or just 127.0.0.1."""
    wanted = [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(count)]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((wanted[-1], 0))
    except OSError:
        return [LOOPBACK]
    return wanted


def carries_token(request: FuzzRequest, token: str) -> bool:
    if not token:
        return False
    values = [*request.headers.values(), request.path, *request.query.values()]
    return any(token in value for value in values) or token.encode() in (request.body or b"")


class Sender:
    """Send requests to ``base_url``, round-robin over source addresses; context manager."""

    def __init__(
        self, base_url: str, *, timeout_s: float, admin_token: str = "", sources: int = 32
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token
        self.addresses = source_addresses(sources)
        self.pause_s = FALLBACK_PAUSE_S if len(self.addresses) == 1 else 0.0
        self._stack = ExitStack()
        self._clients = [
            self._stack.enter_context(
                httpx.Client(
                    transport=httpx.HTTPTransport(local_address=address),
                    timeout=timeout_s,
                    follow_redirects=False,
                )
            )
            for address in self.addresses
        ]
        self._turn: Iterator[int] = itertools.cycle(range(len(self._clients)))

    def __enter__(self) -> Sender:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()

    def send(self, request: FuzzRequest) -> Outcome:
        if carries_token(request, self.admin_token):
            raise AdminTokenRefused(f"{request.name}: refusing to send the admin token")
        index = next(self._turn)
        started = time.perf_counter()
        try:
            response = self._clients[index].request(
                request.method,
                f"{self.base_url}{request.path}",
                content=request.body,
                headers=request.headers,
                params=request.query or None,
            )
            status, error, sent = response.status_code, None, True
        except httpx.LocalProtocolError as exc:  # the client would not write it: never sent
            status, error, sent = None, f"{type(exc).__name__}: {exc}"[:300], False
        except httpx.HTTPError as exc:  # no answer: a dropped connection or a timeout
            status, error, sent = None, f"{type(exc).__name__}: {exc}"[:300], True
        elapsed = (time.perf_counter() - started) * 1000
        if self.pause_s:
            time.sleep(self.pause_s)
        address = self.addresses[index]
        return Outcome(request, status, error, round(elapsed, 1), address, sent)
