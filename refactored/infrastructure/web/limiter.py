"""Rate limiting with slowapi, keyed on the client address.

The key is ``request.client.host``: behind Caddy, uvicorn (gunicorn
``--forwarded-allow-ips 127.0.0.1``) already replaced it with the address in
``X-Forwarded-For``, so every real client has its own bucket. Buckets live in
each worker's memory: with W workers a client gets up to W x the limit.
"""

from __future__ import annotations

import time

from fastapi import Request
from fastapi.responses import JSONResponse
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address

from refactored.infrastructure.observability.metrics import rate_limited


def build_limiter(enabled: bool, default: str) -> Limiter:
    return Limiter(
        key_func=get_remote_address,
        enabled=enabled,
        default_limits=[default],
        headers_enabled=False,
    )


def retry_after_seconds(request: Request, limiter: Limiter) -> int:
    current = getattr(request.state, "view_rate_limit", None)
    if current is None:
        return 60
    try:
        reset_at, _ = limiter.limiter.get_window_stats(current[0], *current[1])
    except Exception:  # the storage has no stats: say "a minute"
        return 60
    return max(1, int(reset_at - time.time()) + 1)


def rate_limit_handler(limiter: Limiter):
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        route = getattr(request.scope.get("route"), "path", request.url.path)
        rate_limited.labels(route).inc()
        detail = exc.detail if isinstance(exc, RateLimitExceeded) else str(exc)
        return JSONResponse(
            {"detail": f"rate limit exceeded: {detail}", "error": "rate_limited"},
            status_code=429,
            headers={"Retry-After": str(retry_after_seconds(request, limiter))},
        )

    return handle
