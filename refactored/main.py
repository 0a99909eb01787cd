"""The composition root: ``create_app(settings, overrides)`` wires every adapter.

No I/O at import time: engines, HTTP clients and the broker connection are
created in the FastAPI lifespan. Tests substitute any adapter through
:class:`Overrides`; the harness runs ``gunicorn 'refactored.main:create_app()'``.
Each concern's wiring is a step in :mod:`refactored.infrastructure.wiring`.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI

from refactored.core.settings import Settings, load_settings
from refactored.infrastructure.container import Container
from refactored.infrastructure.observability.logging import configure_logging
from refactored.infrastructure.observability.tracing import ExporterFactory, exporter_factory
from refactored.infrastructure.web.limiter import RateLimits, build_limiter
from refactored.infrastructure.wiring import messaging, observability, storage, use_cases
from refactored.infrastructure.wiring.assembly import Assembly, Overrides
from refactored.infrastructure.wiring.dependencies import dependencies
from refactored.infrastructure.wiring.storage import NIGHTLY_LOCK
from refactored.infrastructure.wiring.web import ServiceApp, install_web

__all__ = ["GC_YOUNG_THRESHOLD", "NIGHTLY_LOCK", "Overrides", "create_app", "secrets_of"]

# A request's objects are freed by reference counting, so under load the cycle collector's
# young-generation passes (CPython starts one each time 700 more container objects are alive
# than at the last pass) found nothing: ~35 passes a second per worker, 0 objects collected,
# ~2.4 % of a worker's time in a `make bench` step (docs/performance.md). Cycles (an
# exception's traceback) are still collected, once 10,000 more objects are alive.
GC_YOUNG_THRESHOLD = 10_000


def create_app(settings: Settings | None = None, overrides: Overrides | None = None) -> FastAPI:
    settings = settings or load_settings()  # from the environment; errors name no value
    overrides = overrides or Overrides()
    configure_logging(settings.log_level, secrets_of(settings))
    exporter = exporter_factory(settings.otel_exporter)  # a missing package fails here
    limiter = build_limiter(settings.rate_limit_default)  # the routes' declared limits
    rate_limits = RateLimits(limiter, settings)  # counts them (RATE_LIMIT_STORAGE_URI)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(rate_limits.aclose)
            app.state.container, tasks = _wire(app, Assembly(settings, overrides, stack), exporter)
            # Everything built so far (modules, the app, its adapters) lives as long as the
            # worker: out of the collector's sight, a full collection no longer walks it.
            gc.freeze()
            thresholds = gc.get_threshold()
            gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
            running = _start(tasks, overrides.background_tasks)
            try:
                yield
            finally:
                gc.set_threshold(*thresholds)  # the process is the caller's again (tests)
                gc.unfreeze()  # what the app leaves behind is garbage again (tests run many)
                await _stop(running)

    app = ServiceApp(title="context service (refactored)", lifespan=lifespan)
    install_web(app, settings, rate_limits)
    return app


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """The values the logs must never show (the formatter masks them wherever they appear)."""
    values = (
        settings.secret_key,
        settings.admin_token,
        settings.llm_api_key,
        settings.memory_api_key,
    )
    return tuple(v for v in values if v)


def _wire(
    app: FastAPI, a: Assembly, exporter: ExporterFactory | None
) -> tuple[Container, list[Coroutine[Any, Any, Any]]]:
    """Build every adapter, concern by concern (what opens first closes last)."""
    app.state.tracing = tracing = observability.tracing(a, exporter)
    alerts = observability.alert_sink(a)
    app.state.latency_watch = observability.latency_watch(a, alerts)
    deps = dependencies(a, alerts, tracing)
    db = storage.request_engine(a)
    publisher = messaging.publisher(a, tracing)
    relay = messaging.outbox_relay(a, db, publisher, alerts)
    stores = storage.stores(a, db, tracing, messaging.commit_hook(relay, publisher))
    adapters = use_cases.Adapters(stores, deps, publisher, alerts, storage.nightly_lock(db))
    return use_cases.container(a, adapters), a.tasks


def _start(tasks: list[Coroutine[Any, Any, Any]], enabled: bool) -> list[asyncio.Task[Any]]:
    if not enabled:  # background tasks off (tests): never started
        for coro in tasks:
            coro.close()
        return []
    return [asyncio.create_task(coro) for coro in tasks]


async def _stop(running: list[asyncio.Task[Any]]) -> None:
    for task in running:
        task.cancel()
    for task in running:
        with suppress(asyncio.CancelledError, Exception):
            await task
