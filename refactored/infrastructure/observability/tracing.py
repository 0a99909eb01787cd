"""OpenTelemetry: one tracer provider per app, built in its lifespan and flushed on shutdown.

The adapters take their tracer from this provider rather than from the process-global one:
the global can be set only once per process, and tests run many apps in one process.
``OTEL_EXPORTER=none`` uses the API's no-op provider (spans cost next to nothing);
``otlp`` exports OTLP over HTTP/protobuf, configured by the standard variables
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``..._HEADERS``,
``..._TIMEOUT``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

SERVICE_NAME = "context-service-refactored"
OTLP_PACKAGE = "opentelemetry-exporter-otlp-proto-http"
OTLP_MISSING = (
    f"OTEL_EXPORTER=otlp needs the {OTLP_PACKAGE} package, which is not installed: "
    f"pip install '{OTLP_PACKAGE}' (it is a dependency of this project: "
    "reinstalling the project brings it), or set OTEL_EXPORTER=none"
)
ExporterFactory = Callable[[], SpanExporter]


def exporter_factory(exporter: str) -> ExporterFactory | None:
    """The exporter OTEL_EXPORTER names (None: none), resolved when the app is created.

    Resolving it in ``create_app`` rather than in the lifespan makes a missing package a
    start-up error that says what to install, not a worker that dies on its first boot.
    """
    if exporter == "none":
        return None
    if exporter == "console":
        return ConsoleSpanExporter
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ImportError(OTLP_MISSING, name=OTLP_PACKAGE) from exc
    return OTLPSpanExporter


class _NoSpan:
    """``with tracer.start_as_current_span(...)`` when tracing is off: nothing happens."""

    def __enter__(self) -> trace.Span:
        return trace.INVALID_SPAN

    def __exit__(self, *exc_info: object) -> None:
        return None


_NO_SPAN = _NoSpan()


class SilentTracer(trace.NoOpTracer):
    """The tracer of OTEL_EXPORTER=none: a span costs one attribute lookup.

    The API's no-op tracer still builds a non-recording span and attaches it to the
    context on every call (about 3 % of a suggest request's CPU, docs/performance.md).
    """

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return _NO_SPAN


_SILENT_TRACER = SilentTracer()


class _StoppableExporter(SpanExporter):
    """Shutting down twice is harmless, and a shut-down exporter drops batches silently.

    :meth:`Tracing.aclose` shuts the exporter down itself to abort an export stuck on
    retries (an unreachable collector); the batch processor then shuts it down again.
    """

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self._stopped = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopped:
            return SpanExportResult.FAILURE
        return self.inner.export(spans)

    def shutdown(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class Tracing:
    """The app's tracer provider; ``test_exporter`` (tests) sees each span as it ends."""

    def __init__(
        self, factory: ExporterFactory | None, test_exporter: SpanExporter | None = None
    ) -> None:
        self.exporter: SpanExporter | None = None
        self._sdk: TracerProvider | None = None
        self._stoppable: _StoppableExporter | None = None
        self.provider: trace.TracerProvider = trace.NoOpTracerProvider()
        if test_exporter is None and factory is None:
            return
        self._sdk = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        if test_exporter is not None:
            self.exporter = test_exporter
            self._sdk.add_span_processor(SimpleSpanProcessor(test_exporter))
        else:
            assert factory is not None
            self.exporter = factory()
            self._stoppable = _StoppableExporter(self.exporter)
            self._sdk.add_span_processor(BatchSpanProcessor(self._stoppable))
        self.provider = self._sdk

    def tracer(self, name: str) -> trace.Tracer:
        if self._sdk is None:
            return _SILENT_TRACER
        return self.provider.get_tracer(name)

    async def aclose(self, flush_timeout_s: float) -> None:
        """Export what is queued, but wait at most ``flush_timeout_s`` for the collector.

        The SDK's shutdown blocks (it joins the export thread), so it runs in a thread;
        past the bound the exporter is stopped, which aborts its retry backoff, and the
        shutdown then finishes at once: a dead collector never holds a worker's exit.
        """
        if self._sdk is None:
            return
        shutdown = asyncio.ensure_future(asyncio.to_thread(self._sdk.shutdown))
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(shutdown), flush_timeout_s)
        if not shutdown.done() and self._stoppable is not None:
            await asyncio.to_thread(self._stoppable.shutdown)
        await shutdown
