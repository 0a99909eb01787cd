"""The composition root: ``create_app(settings, overrides)`` wires every adapter.

No I/O at import time: engines, HTTP clients and the broker connection are
created in the FastAPI lifespan. Tests substitute any adapter through
:class:`Overrides`; the harness runs ``gunicorn 'refactored.main:create_app()'``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter
from starlette.types import ASGIApp

from refactored.application.ports import (
    AlertSink,
    Clock,
    ConversationAnalyzer,
    EventPublisher,
    MemoryStore,
    NightlyStore,
)
from refactored.application.use_cases.end_conversation import EndConversation
from refactored.application.use_cases.get_friendship import GetFriendship
from refactored.application.use_cases.nightly_job import NightlyJob
from refactored.application.use_cases.suggest_activities import SuggestActivities
from refactored.core.resilience.breaker import CircuitBreaker
from refactored.core.resilience.policy import DependencyPolicy
from refactored.core.resilience.retry import RetryConfig, RetryPolicy, Sleep
from refactored.core.settings import Policy, Settings, load_settings
from refactored.infrastructure.container import Container
from refactored.infrastructure.db.engine import PoolConfig, build_engine
from refactored.infrastructure.db.locks import advisory_lock
from refactored.infrastructure.db.store import SqlAlchemyFriendshipStore
from refactored.infrastructure.http.clients import build_client
from refactored.infrastructure.http.llm import HttpxLlmAnalyzer
from refactored.infrastructure.http.memory import HttpxMemoryStore
from refactored.infrastructure.messaging.outbox import OutboxRelay
from refactored.infrastructure.messaging.publisher import AioPikaEventPublisher
from refactored.infrastructure.observability import metrics
from refactored.infrastructure.observability.alerts import GoogleChatAlertSink
from refactored.infrastructure.observability.latency import LatencyWatch
from refactored.infrastructure.observability.logging import configure_logging
from refactored.infrastructure.observability.loop_lag import monitor_loop_lag
from refactored.infrastructure.observability.tracing import (
    ExporterFactory,
    Tracing,
    exporter_factory,
)
from refactored.infrastructure.scheduler import run_daily
from refactored.infrastructure.web.errors import install_error_handlers
from refactored.infrastructure.web.limiter import RateLimits, build_limiter
from refactored.infrastructure.web.middleware import (
    BodySizeLimitMiddleware,
    DeadlineMiddleware,
    ObservabilityMiddleware,
    RequestIdMiddleware,
)
from refactored.infrastructure.web.rate_limit import RateLimitMiddleware
from refactored.infrastructure.web.routes import ADMIN_NIGHTLY_PATH, build_router

log = logging.getLogger("refactored.main")
NIGHTLY_LOCK = "refactored.nightly"  # the advisory lock's name (scheduler and admin endpoint)
UNBOUNDED_POOL_TIMEOUT_S = 300.0  # pool_limits disabled: wait "forever" like legacy


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ServiceApp(FastAPI):
    """FastAPI with :class:`RequestIdMiddleware` around everything, Starlette's
    ServerErrorMiddleware included: a 500 carries X-Request-ID and its log line the id."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestIdMiddleware(super().build_middleware_stack())


@dataclass
class Overrides:
    """Adapters a test (or another deployment) substitutes for the real ones."""

    analyzer: ConversationAnalyzer | None = None
    memory: MemoryStore | None = None
    store: NightlyStore | None = None
    job_store: NightlyStore | None = None
    publisher: EventPublisher | None = None
    alerts: AlertSink | None = None
    clock: Clock | None = None
    retry_sleep: Sleep | None = None
    span_exporter: SpanExporter | None = None  # instead of OTEL_EXPORTER's (tests read spans)
    background_tasks: bool = True


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
            app.state.container, tasks = await _wire(app, settings, overrides, exporter, stack)
            # Everything built so far (modules, the app, its adapters) lives as long as the
            # worker: out of the collector's sight, a full collection no longer walks it.
            gc.freeze()
            running: list[asyncio.Task[Any]] = []
            for coro in tasks:
                if overrides.background_tasks:
                    running.append(asyncio.create_task(coro))
                else:
                    coro.close()  # background tasks off (tests): never started
            try:
                yield
            finally:
                gc.unfreeze()  # what the app leaves behind is garbage again (tests run many)
                for task in running:
                    task.cancel()
                for task in running:
                    with suppress(asyncio.CancelledError, Exception):
                        await task

    app = ServiceApp(title="context service (refactored)", lifespan=lifespan)
    app.state.limiter = limiter
    app.state.settings = settings
    install_error_handlers(app)
    timeouts = settings.enabled(Policy.TIMEOUTS)
    app.add_middleware(
        DeadlineMiddleware,
        seconds=settings.scaled(settings.request_deadline_s) if timeouts else None,
        exempt_paths=frozenset({ADMIN_NIGHTLY_PATH}),  # bounded by JOB_TIMEOUT_S instead
    )
    app.add_middleware(BodySizeLimitMiddleware)
    # Every request counts before it is routed, read or validated (a 404, 413 or 422 too),
    # per client and route template: the route's @limiter.limit, else RATE_LIMIT_DEFAULT.
    app.add_middleware(RateLimitMiddleware, limits=rate_limits)
    app.add_middleware(ObservabilityMiddleware)
    app.include_router(build_router(settings, limiter))
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


def _breaker(settings: Settings, name: str, alerts: AlertSink) -> CircuitBreaker:
    def on_transition(dependency: str, old: str, new: str) -> None:
        log.warning(
            "circuit breaker transition",
            extra={"dependency": dependency, "from_state": old, "to_state": new},
        )
        metrics.breaker_transitions.labels(dependency, old, new).inc()
        metrics.breaker_state.labels(dependency).set(metrics.BREAKER_STATE_VALUES[new])
        if new == "open":
            alerts.alert(
                "P0",
                f"Circuit breaker open: {dependency}",
                f"{dependency} failed {settings.circuit_breaker_failure_threshold} "
                "times; failing fast and using fallbacks",
            )

    metrics.breaker_state.labels(name).set(0)
    return CircuitBreaker(
        name,
        settings.circuit_breaker_failure_threshold,
        settings.scaled(settings.circuit_breaker_recovery_timeout),
        on_transition,
    )


def _policy(
    settings: Settings,
    name: str,
    timeout_s: float,
    alerts: AlertSink,
    breaker: CircuitBreaker | None,
    sleep: Sleep | None,
) -> DependencyPolicy:
    retry = None
    timeouts = settings.enabled(Policy.TIMEOUTS)
    reserve = settings.scaled(settings.dependency_deadline_reserve_s) if timeouts else 0.0
    if settings.enabled(Policy.RETRY):
        config = RetryConfig(
            settings.retry_attempts,
            settings.scaled(settings.retry_initial_s),
            settings.scaled(settings.retry_max_s),
            settings.scaled(settings.retry_jitter_s),
            settings.scaled(settings.retry_after_max_s),
        )
        retry = RetryPolicy(
            config,
            sleep=sleep or asyncio.sleep,
            on_retry=metrics.retry_attempts.labels(name).inc,
            deadline_reserve_s=reserve,
        )

    def observe(outcome: str, seconds: float) -> None:
        metrics.dependency_call_duration.labels(name, outcome).observe(seconds)
        if outcome == "rate_limited":
            alerts.alert("P1", f"Rate limited by {name} (429)", f"{name} answered 429")

    return DependencyPolicy(
        name=name,
        timeout_s=settings.scaled(timeout_s) if timeouts else None,
        retry=retry,
        breaker=breaker,
        observe=observe,
        deadline_reserve_s=reserve,
    )


def _pool(settings: Settings, *, job: bool) -> PoolConfig:
    timeouts = settings.enabled(Policy.TIMEOUTS)
    statement = settings.scaled(settings.db_statement_timeout_s) if timeouts else None
    connect = settings.scaled(settings.db_connect_timeout_s) if timeouts else None
    command = settings.scaled(settings.db_call_timeout_s) if timeouts else None
    tls = settings.db_ssl
    if job:
        return PoolConfig(
            settings.job_db_pool_size, 0, settings.scaled(30.0), statement, connect, tls, command
        )
    if settings.enabled(Policy.POOL_LIMITS):
        return PoolConfig(
            settings.db_pool_size,
            settings.db_max_overflow,
            settings.scaled(settings.db_pool_timeout),
            statement,
            connect,
            tls,
            command,
        )
    return PoolConfig(
        settings.unbounded_pool_size, 0, UNBOUNDED_POOL_TIMEOUT_S, statement, connect, tls, command
    )


async def _wire(
    app: FastAPI,
    settings: Settings,
    o: Overrides,
    exporter: ExporterFactory | None,
    stack: AsyncExitStack,
) -> tuple[Container, list[Coroutine[Any, Any, Any]]]:
    """Build every adapter; return the container and the background tasks to run."""
    s = settings
    timeouts = s.enabled(Policy.TIMEOUTS)
    tasks: list[Coroutine[Any, Any, Any]] = [monitor_loop_lag(s.loop_lag_interval_s)]
    tracing = Tracing(exporter, o.span_exporter)
    # closed last (the stack unwinds in reverse): every other adapter's spans have ended
    stack.push_async_callback(tracing.aclose, s.scaled(s.otel_flush_timeout_s))
    app.state.tracing = tracing

    def client(base_url: str, timeout_s: float | None) -> Any:
        c = build_client(
            base_url,
            timeout_s=s.scaled(timeout_s) if timeouts and timeout_s else None,
            connect_timeout_s=s.scaled(s.connect_timeout_s) if timeouts else None,
            max_connections=s.http_max_connections,
            transport=s.http_transport,
            ca_bundle=s.http_ca_bundle,
        )
        stack.push_async_callback(c.aclose)
        return c

    alerts = o.alerts
    if alerts is None:
        sink = GoogleChatAlertSink(
            client("http://alerts.invalid", s.alert_timeout_s) if s.alert_webhook_url else None,
            s.alert_webhook_url,
            s.scaled(s.alert_p2_window_s),
        )
        stack.push_async_callback(sink.aclose)
        tasks.append(sink.run_p2_flusher())
        alerts = sink

    latency = LatencyWatch(alerts, s.scaled(s.alert_latency_p95_s), s.scaled(s.alert_latency_p99_s))
    tasks.append(latency.run(s.scaled(s.alert_p2_window_s)))
    app.state.latency_watch = latency

    breakers: dict[str, CircuitBreaker] = {}
    if s.enabled(Policy.BREAKER):
        breakers = {name: _breaker(s, name, alerts) for name in ("llm", "memory")}
    analyzer = o.analyzer or HttpxLlmAnalyzer(
        client(s.llm_base_url, s.llm_timeout_s),
        s.llm_model,
        s.llm_api_key,
        _policy(s, "llm", s.llm_timeout_s, alerts, breakers.get("llm"), o.retry_sleep),
        tracing.tracer(HttpxLlmAnalyzer.__module__),
    )
    memory = o.memory or HttpxMemoryStore(
        client(s.memory_api_url, s.memory_timeout_s),
        s.memory_api_key,
        _policy(s, "memory", s.memory_timeout_s, alerts, breakers.get("memory"), o.retry_sleep),
        tracing.tracer(HttpxMemoryStore.__module__),
    )
    engine = None
    if o.store is None:
        engine = build_engine(s.async_database_url, _pool(s, job=False), "refactored")
        stack.push_async_callback(engine.dispose)

    publisher = o.publisher
    if publisher is None and s.amqp_url:
        amqp = AioPikaEventPublisher(
            s.amqp_url,
            s.scaled(s.amqp_timeout_s) if timeouts else 60.0,
            tracing.tracer(AioPikaEventPublisher.__module__),
        )
        stack.push_async_callback(amqp.aclose)
        publisher = amqp
    outbox = s.enabled(Policy.OUTBOX)
    relay = None
    if outbox and engine is not None:
        relay = OutboxRelay(
            engine,
            publisher,
            batch_size=s.outbox_batch_size,
            poll_interval_s=max(0.05, s.scaled(s.outbox_poll_interval_s)),
            backlog_alert=s.outbox_backlog_alert,
            alerts=alerts,
            iteration_timeout_s=s.scaled(s.outbox_iteration_timeout_s) if timeouts else None,
            retry_max_s=s.scaled(s.outbox_retry_max_s),
        )
        tasks.append(relay.run())
    # a committed outbox event wakes this worker's relay rather than waiting for its poll
    # (with no broker to publish to, a wake-up would only count the backlog again)
    event_committed = relay.notify if relay is not None and publisher is not None else None

    store_tracer = tracing.tracer(SqlAlchemyFriendshipStore.__module__)
    store = o.store
    if store is None:
        assert engine is not None
        store = SqlAlchemyFriendshipStore(
            engine,
            unit_timeout_s=s.scaled(s.db_call_timeout_s) if timeouts else None,
            reserve_s=s.scaled(s.deadline_reserve_s) if timeouts else 0.0,
            tracer=store_tracer,
            on_event_committed=event_committed,
        )
    job_store = o.job_store
    if job_store is None:
        if s.enabled(Policy.JOB_BULKHEAD) and engine is not None:
            job_engine = build_engine(s.async_database_url, _pool(s, job=True), "refactored-job")
            stack.push_async_callback(job_engine.dispose)
            job_store = SqlAlchemyFriendshipStore(
                job_engine, tracer=store_tracer, on_event_committed=event_committed
            )
        else:
            job_store = store

    clock = o.clock or SystemClock()
    fallbacks = s.enabled(Policy.FALLBACKS)
    on_fallback = _fallback_hook(alerts)
    nightly = NightlyJob(
        job_store,
        analyzer,
        clock,
        bulkhead=s.enabled(Policy.JOB_BULKHEAD),
        concurrency=s.job_concurrency,
        batch_size=s.job_batch_size,
        outbox=outbox,
        publisher=publisher,
    )
    # One nightly run at a time across every worker: the scheduler and POST /v1/admin/nightly
    # take the same PostgreSQL advisory lock.
    lock_engine = engine
    exclusive = (
        (lambda: advisory_lock(lock_engine, NIGHTLY_LOCK)) if lock_engine is not None else None
    )
    if s.nightly_scheduler_enabled:
        job_timeout = s.scaled(s.job_timeout_s) if timeouts else None

        async def bounded_nightly() -> object:
            async with asyncio.timeout(job_timeout):
                return await nightly()

        tasks.append(run_daily(bounded_nightly, s.nightly_hour_utc, s.time_scale, exclusive))
    container = Container(
        settings=s,
        store=store,
        end_conversation=EndConversation(
            store,
            analyzer,
            memory,
            clock,
            fallbacks=fallbacks,
            outbox=outbox,
            publisher=publisher,
            on_fallback=on_fallback,
        ),
        suggest_activities=SuggestActivities(
            store, analyzer, fallbacks=fallbacks, on_fallback=on_fallback
        ),
        get_friendship=GetFriendship(store),
        nightly_job=nightly,
        alerts=alerts,
        breakers=breakers,
        clock=clock,
        nightly_lock=exclusive,
    )
    return container, tasks


def _fallback_hook(alerts: AlertSink) -> Callable[[str], None]:
    def on_fallback(field: str) -> None:
        metrics.fallbacks.labels(field).inc()
        alerts.alert("P2", f"Fallback used: {field}", f"the {field} fallback value was used")

    return on_fallback
