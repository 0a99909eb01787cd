"""Tracing: the OTLP exporter is installed and harmless, and spans wrap the dependency calls."""

from __future__ import annotations

import asyncio
import sys
import threading

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from refactored.main import create_app
from tests.unit.refactored.app_harness import conversation, running, unit_overrides, unit_settings
from tests.unit.refactored.fake_llm import FakeDependencies

pytestmark = pytest.mark.unit
UNREACHABLE = "http://127.0.0.1:1"  # nothing listens on port 1: connection refused
OTLP_MODULE = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


def export_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("OtelBatch") and t.is_alive()]


async def test_otlp_exporter_starts_and_shuts_down_with_an_unreachable_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", UNREACHABLE)  # the standard variable
    before = export_threads()
    # a hang guard only (a dead collector must not hold the shutdown), not a timing assert
    async with asyncio.timeout(60):
        async with running(FakeDependencies(), unit_overrides(), otel_exporter="otlp") as (
            app,
            client,
        ):
            response = await client.post("/v1/conversations/end", json=conversation())
            assert response.status_code == 200  # spans were queued for the collector
            assert isinstance(app.state.tracing.exporter, OTLPSpanExporter)
    assert export_threads() == before, "the export thread outlived the app"


def test_a_missing_otlp_package_is_a_start_up_error_that_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, OTLP_MODULE, None)  # None in sys.modules: ImportError
    with pytest.raises(ImportError, match="pip install 'opentelemetry-exporter-otlp-proto-http'"):
        create_app(unit_settings(otel_exporter="otlp"), unit_overrides())


class SpanWitness(FakeDependencies):
    """Records, for each request the LLM or Memory API receives, the span active around it."""

    def __init__(self) -> None:
        super().__init__()
        self.active: list[tuple[str, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        span_id = trace.get_current_span().get_span_context().span_id
        self.active.append((request.url.host, span_id))
        return super().__call__(request)


async def test_spans_wrap_every_llm_and_memory_call() -> None:
    exporter = InMemorySpanExporter()
    deps = SpanWitness()
    async with running(deps, unit_overrides(span_exporter=exporter)) as (_, client):
        assert (await client.post("/v1/conversations/end", json=conversation())).status_code == 200
        suggest = {"user_id": "u1", "agent_id": "a1"}
        assert (await client.post("/v1/activities/suggest", json=suggest)).status_code == 200
    spans = {span.context.span_id: span for span in exporter.get_finished_spans()}
    expected = {"llm.test": "llm.chat_completions", "memory.test": "memory.add"}
    assert len(deps.active) == 5  # emotion, questions, topics, memory, activities
    for host, span_id in deps.active:
        assert span_id in spans, f"the call to {host} ran outside any exported span"
        assert spans[span_id].name == expected[host]
    tasks = sorted(
        str(s.attributes["task"])
        for s in spans.values()
        if s.name == "llm.chat_completions" and s.attributes
    )
    assert tasks == ["activities", "emotion", "questions", "topics"]
