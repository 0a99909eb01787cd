"""The FastAPI application: error handlers, the middleware chain, the routes."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from refactored.core.settings import Settings
from refactored.infrastructure.web.errors import install_error_handlers
from refactored.infrastructure.web.limiter import RateLimits
from refactored.infrastructure.web.middleware import RequestIdMiddleware
from refactored.infrastructure.web.pipeline import RequestPipeline
from refactored.infrastructure.web.routes import ADMIN_NIGHTLY_PATH, build_router


class ServiceApp(FastAPI):
    """FastAPI with :class:`RequestIdMiddleware` around everything, Starlette's
    ServerErrorMiddleware included: a 500 carries X-Request-ID and its log line the id."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestIdMiddleware(super().build_middleware_stack())


def install_web(app: FastAPI, settings: Settings, rate_limits: RateLimits) -> None:
    """Error handlers, the request pipeline (rate limit, body limit, deadline) and the routes."""
    app.state.limiter = rate_limits.limiter
    app.state.settings = settings
    install_error_handlers(app)
    # Every request counts before it is routed, read or validated (a 404, 413 or 422 too),
    # per client and route template: the route's @limiter.limit, else RATE_LIMIT_DEFAULT.
    app.add_middleware(
        RequestPipeline,
        limits=rate_limits,
        deadline_s=settings.scaled_or_none(settings.request_deadline_s),
        exempt_paths=frozenset({ADMIN_NIGHTLY_PATH}),  # bounded by JOB_TIMEOUT_S instead
    )
    app.include_router(build_router(settings, rate_limits.limiter))
