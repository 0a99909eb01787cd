"""RateLimitGate: every request counts, before routing, body reading and validation.

The route template is found the way the router will find it (first full match, else the
first partial one: a 405 counts against its route); a path no route matches counts
against one shared ``unmatched`` budget at RATE_LIMIT_DEFAULT. See limiter.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from limits import RateLimitItem
from starlette.routing import BaseRoute, Match
from starlette.types import Scope, Send

from refactored.infrastructure.observability.metrics import rate_limited
from refactored.infrastructure.web.client_address import client_address, forwarded_chain
from refactored.infrastructure.web.limiter import RateLimits
from refactored.infrastructure.web.middleware import send_json

log = logging.getLogger(__name__)
UNMATCHED = "unmatched"
MAX_ROUTE_KEYS = 1024
PROXY_HEADERS_REWROTE = (
    "the client address has port 0 and the request an X-Forwarded-For: uvicorn's proxy "
    "headers replaced the TCP peer before TRUSTED_PROXIES could judge it; run gunicorn/"
    "uvicorn with --forwarded-allow-ips ''"
)


def find_route(
    routes: Iterable[BaseRoute], scope: Scope, prefix: str = ""
) -> tuple[Match, str, BaseRoute | None]:
    """(how it matched, route template, route) of the route that will serve ``scope``."""
    partial: tuple[Match, str, BaseRoute | None] = (Match.NONE, UNMATCHED, None)
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.16x: lazy include
        if included is not None:
            inner = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            if not scope["path"].startswith(inner):
                continue
            child = {**scope, "path": scope["path"][len(inner) :]}
            found = find_route(included.routes, child, prefix + inner)
        else:
            match, _ = route.matches(scope)
            found = (match, prefix + getattr(route, "path", UNMATCHED), route)
        if found[0] == Match.FULL:
            return found
        if found[0] == Match.PARTIAL and partial[0] == Match.NONE:
            partial = found
    return partial


class RateLimitGate:
    """Counts the request (RequestPipeline calls it first); False: it answered the 429."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._items: dict[str, tuple[RateLimitItem, ...]] = {}
        self._routes: dict[tuple[str, str], tuple[str, BaseRoute | None]] = {}
        self._warned = False

    async def admit(self, scope: Scope, send: Send) -> bool:
        if not self.limits.enabled:
            return True
        app = scope["app"]
        template, route = self._route_of(app.routes, scope)
        peer = scope.get("client")
        chain = forwarded_chain(
            v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for"
        )
        if peer and peer[1] == 0 and chain and not self._warned:  # no TCP peer has port 0
            log.warning(PROXY_HEADERS_REWROTE)
            self._warned = True
        client = client_address(peer[0] if peer else None, chain, self.limits.trusted_proxies)
        alerts = getattr(getattr(app.state, "container", None), "alerts", None)
        refusal = await self.limits.hit(client, template, self._limits_of(template, route), alerts)
        if refusal is None:
            return True
        if route is not None:
            scope["route"] = route  # the request metrics label the 429 with its route
        rate_limited.labels(template).inc()
        body = {"detail": f"rate limit exceeded: {refusal.limit}", "error": "rate_limited"}
        await send_json(send, 429, body, [(b"retry-after", str(refusal.retry_after_s).encode())])
        return False

    def _route_of(self, routes: Iterable[BaseRoute], scope: Scope) -> tuple[str, BaseRoute | None]:
        """find_route's answer, kept per (method, path) for the first MAX_ROUTE_KEYS paths
        (the routes are fixed once the app serves; paths with parameters are many)."""
        key = (scope["method"], scope["path"])
        found = self._routes.get(key)
        if found is None:
            _, template, route = find_route(routes, scope)
            found = (template, route)
            if len(self._routes) < MAX_ROUTE_KEYS:
                self._routes[key] = found
        return found

    def _limits_of(self, template: str, route: BaseRoute | None) -> tuple[RateLimitItem, ...]:
        items = self._items.get(template)
        if items is None:
            items = self._items[template] = declared_limits(self.limits.limiter, route)
        return items


def declared_limits(limiter: Any, route: BaseRoute | None) -> tuple[RateLimitItem, ...]:
    """The route's ``@limiter.limit`` limits, else RATE_LIMIT_DEFAULT (slowapi's registry)."""
    endpoint = getattr(route, "endpoint", None)
    name = f"{endpoint.__module__}.{endpoint.__name__}" if endpoint is not None else ""
    declared = limiter._route_limits.get(name) or [
        limit for group in limiter._default_limits for limit in group
    ]
    return tuple(limit.limit for limit in declared)
