"""Spans wrap the database work on real PostgreSQL: every statement of a request runs in one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from refactored.main import Overrides
from tests.integration.refactored.test_endpoints import conversation

pytestmark = pytest.mark.integration


@pytest.fixture
def statement_spans() -> Iterator[list[tuple[str, int]]]:
    """(statement, id of the span active when it was sent) for every SQL statement."""
    seen: list[tuple[str, int]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append((statement, trace.get_current_span().get_span_context().span_id))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


async def test_every_request_statement_runs_inside_a_db_span(
    app_client: Any, statement_spans: list[tuple[str, int]]
) -> None:
    exporter = InMemorySpanExporter()
    # no background tasks: the relay's polling is not request work
    overrides = Overrides(span_exporter=exporter, background_tasks=False)
    async with app_client(overrides) as client:
        assert (await client.post("/v1/conversations/end", json=conversation())).status_code == 200
        assert (await client.get("/v1/friendships/u1/a1")).status_code == 200
        assert (await client.get("/health/ready")).status_code == 200
    spans = {s.context.span_id: s for s in exporter.get_finished_spans()}
    names = [s.name for s in spans.values()]
    assert names.count("db.transaction") == 1  # the conversation's one transaction
    assert names.count("db.read") >= 3  # replay check, friendship read, readiness ping
    assert {"llm.chat_completions", "memory.add"} <= set(names)
    assert statement_spans, "no statement was seen"
    for sql, span_id in statement_spans:
        assert span_id in spans, f"outside any span: {sql[:80]}"
        assert spans[span_id].name in {"db.transaction", "db.read"}, sql[:80]
