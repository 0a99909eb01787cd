"""What every wiring step shares: settings, substitutes, the exit stack and the tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter

from refactored.application.ports import (
    AlertSink,
    Clock,
    ConversationAnalyzer,
    EventPublisher,
    MemoryStore,
    NightlyStore,
)
from refactored.core.resilience.retry import Sleep
from refactored.core.settings import Settings


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


@dataclass
class Assembly:
    """One lifespan's wiring: what a step opens is closed by ``stack`` (in reverse order of
    opening), what it must run in the background goes to ``tasks`` (started by the root)."""

    settings: Settings
    overrides: Overrides
    stack: AsyncExitStack
    tasks: list[Coroutine[Any, Any, Any]] = field(default_factory=list)

    def closing(self, aclose: Callable[..., Awaitable[object]], *args: Any) -> None:
        self.stack.push_async_callback(aclose, *args)
