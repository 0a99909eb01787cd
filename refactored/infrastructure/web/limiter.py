"""Rate limits that hold: per client, per route template, one budget for every worker.

* Declared with slowapi: ``@limiter.limit(...)`` on each route, RATE_LIMIT_DEFAULT for
  every other route and for paths no route matches. The slowapi ``Limiter`` is only the
  registry of those declarations (it is built disabled, its decorator counts nothing).
* Counted by :class:`~refactored.infrastructure.web.rate_limit.RateLimitGate` (the request
  pipeline's first step)
  before routing, body reading and validation, so a 404, 405, 413 or 422 costs the
  client like any other request; the key is (client, route template), so 150 different
  friendship URLs are one budget. The client is the TCP peer or, behind a trusted
  proxy, the right-most untrusted X-Forwarded-For hop (client_address.py).
* Stored in limits' *async* storage from RATE_LIMIT_STORAGE_URI: ``redis://`` gives every
  worker and host one budget, ``memory://`` one per worker (W workers, W x the limit).
  (slowapi's own storage is synchronous: a Redis round trip on the event loop per
  request.) When the store fails the limiter fails open: the request passes,
  ``rate_limit_fail_open_total`` counts it, the store is left alone for STORE_RETRY_S,
  and a P1 alert says how many requests passed unchecked, at most once per alert window.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import BlockingConnectionPool
from slowapi import Limiter
from slowapi.util import get_remote_address

from refactored.application.ports import AlertSink
from refactored.core.settings import Policy, Settings
from refactored.infrastructure.observability.metrics import rate_limit_fail_open

log = logging.getLogger(__name__)
STORE_RETRY_S = 1.0  # after a store failure, requests pass unchecked this long
STORE_MAX_CONNECTIONS = 32  # per worker; a request waits for one up to the store timeout
ALERT_TITLE = "Rate limit store unreachable: {n} requests passed unchecked"
REDIS_SCHEMES = ("redis", "rediss")


def build_limiter(default: str) -> Limiter:
    """The registry of the routes' limits (RateLimitGate enforces them)."""
    return Limiter(
        key_func=get_remote_address,  # never called: the limiter is disabled
        enabled=False,
        default_limits=[default],
        headers_enabled=False,
    )


def open_storage(
    uri: str, key_prefix: str, timeout_s: float
) -> tuple[Storage, BlockingConnectionPool | None]:
    """limits' async storage for RATE_LIMIT_STORAGE_URI (no I/O until the first hit)."""
    scheme = urlsplit(uri).scheme.removeprefix("async+")
    if scheme == "memory":
        return MemoryStorage(), None
    if scheme not in REDIS_SCHEMES:
        raise ValueError(
            f"RATE_LIMIT_STORAGE_URI: unsupported scheme {scheme!r}; use memory:// or redis://"
        )
    plain = uri.removeprefix("async+")
    # socket_timeout None (redis-py's default is 5 s): RateLimits.hit bounds the whole hit
    # (pool wait, connect, command) with one asyncio.timeout, and a command it cuts off is
    # disconnected by redis-py. A socket timeout adds an asyncio.wait_for (a task) per send
    # and a timeout per read: ~2 % of a suggest request's CPU (docs/performance.md).
    pool = BlockingConnectionPool.from_url(
        plain,
        max_connections=STORE_MAX_CONNECTIONS,
        timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        socket_timeout=None,
    )
    storage = RedisStorage(
        f"async+{plain}",
        wrap_exceptions=True,
        implementation="redispy",
        key_prefix=key_prefix,
        connection_pool=pool,  # type: ignore[arg-type]  # limits passes it on to redis
    )
    return storage, pool


@dataclass(frozen=True)
class Refusal:
    limit: RateLimitItem
    retry_after_s: int


class RateLimits:
    """Counts hits per (client, route template) in the store; fails open when it fails."""

    def __init__(self, limiter: Limiter, settings: Settings) -> None:
        self.limiter = limiter
        self.enabled = settings.rate_limit_enabled and settings.enabled(Policy.RATE_LIMIT)
        self.trusted_proxies = settings.trusted_proxies
        self._uri = redact(settings.rate_limit_storage_uri)
        self._timeout_s = settings.rate_limit_storage_timeout_s
        self._storage, self._pool = open_storage(
            settings.rate_limit_storage_uri, settings.rate_limit_key_prefix, self._timeout_s
        )
        self._window = FixedWindowRateLimiter(self._storage)
        self._alert_window_s = settings.scaled(settings.alert_p2_window_s)
        self._down_until: float | None = None
        self._unreported = 0
        self._reported_at: float | None = None

    async def hit(
        self, client: str, template: str, items: tuple[RateLimitItem, ...], alerts: AlertSink | None
    ) -> Refusal | None:
        """Count one request; the limit it exceeds, or None (also when the store failed)."""
        if self._down_until is not None and time.monotonic() < self._down_until:
            self._fail_open(alerts)
            return None
        try:
            async with asyncio.timeout(self._timeout_s * 2):  # connect + command at most
                refusal = await self._count(client, template, items)
        except (StorageError, OSError, TimeoutError) as exc:
            if self._down_until is None:
                log.error("rate limit store failed: failing open", extra={"error": repr(exc)})
            self._down_until = time.monotonic() + STORE_RETRY_S
            self._fail_open(alerts)
            return None
        if self._down_until is not None:
            log.warning("rate limit store recovered")
            self._down_until = None
        return refusal

    async def _count(
        self, client: str, template: str, items: tuple[RateLimitItem, ...]
    ) -> Refusal | None:
        for item in items:
            if not await self._window.hit(item, client, template):
                stats = await self._window.get_window_stats(item, client, template)
                return Refusal(item, max(1, math.ceil(stats.reset_time - time.time())))
        return None

    def _fail_open(self, alerts: AlertSink | None) -> None:
        rate_limit_fail_open.inc()
        self._unreported += 1
        now = time.monotonic()
        if self._reported_at is not None and now - self._reported_at < self._alert_window_s:
            return
        if alerts is not None:
            alerts.alert(
                "P1",
                ALERT_TITLE.format(n=self._unreported),
                f"the rate limit store ({self._uri}) failed; the limiter "
                f"fails open: {self._unreported} requests passed without a rate limit "
                "check since the last alert",
            )
        self._reported_at, self._unreported = now, 0

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def redact(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password:
        return uri.replace(f":{parts.password}@", ":***@")
    return uri
