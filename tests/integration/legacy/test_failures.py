"""Legacy when PostgreSQL is gone (500 + P0 card) and its inline pika publish."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pika
import pytest
from sqlalchemy import create_engine, text

from legacy.db import psycopg2_url
from legacy.main import create_app
from testbed.net import free_port
from tests.integration.legacy.conftest import FakeDeps, conversation

pytestmark = pytest.mark.integration


@pytest.fixture
async def api_without_db(
    legacy_env: dict[str, str], fakes: FakeDeps, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    # Nothing listens on a fresh free port: every connection attempt is refused at once.
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://legacy") as client:
            yield client


async def test_database_down_is_500_with_a_p0_card(
    api_without_db: httpx.AsyncClient, fakes: FakeDeps
) -> None:
    response = await api_without_db.post("/v1/conversations/end", json=conversation())
    assert (response.status_code, response.json()) == (500, {"detail": "internal server error"})
    assert fakes.card_titles() == ["[P0] Database error"]
    card = fakes.cards[0]["cards"][0]
    assert card["header"]["subtitle"] == "Context Handling Module Alert"
    assert card["sections"][0]["widgets"][0]["textParagraph"]["text"].startswith(
        "<b>Message:</b> POST /v1/conversations/end"
    )
    ready = await api_without_db.get("/health/ready")
    assert (ready.status_code, ready.json()) == (503, {"status": "not_ready", "database": "error"})
    assert (await api_without_db.get("/health")).status_code == 200


async def test_alert_webhook_failure_is_swallowed(
    api_without_db: httpx.AsyncClient, fakes: FakeDeps
) -> None:
    fakes.webhook_down = True
    response = await api_without_db.get("/v1/friendships/u1/a1")
    assert (response.status_code, response.json()) == (500, {"detail": "internal server error"})
    assert fakes.cards == []


async def test_score_update_is_published_after_commit(
    amqp_url: str, legacy_env: dict[str, str], fakes: FakeDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMQP_URL", amqp_url)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange="friendship", exchange_type="topic", durable=True)
        queue = channel.queue_declare(queue="", exclusive=True).method.queue
        channel.queue_bind(queue=queue, exchange="friendship", routing_key="friendship.#")
        app = create_app()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://legacy") as api:
                await api.post("/v1/conversations/end", json=conversation())
                await api.post("/v1/conversations/end", json=conversation())  # replay: no event
        method, properties, body = channel.basic_get(queue=queue, auto_ack=True)
        assert method is not None, "no event published"
        event = json.loads(body)
        assert method.routing_key == "friendship.score_updated"
        assert properties.message_id == event["event_id"]
        assert properties.delivery_mode == 2
        assert {k: v for k, v in event.items() if k not in ("event_id", "occurred_at")} == {
            "event_type": "friendship.score_updated",
            "conversation_id": "c1",
            "user_id": "u1",
            "agent_id": "a1",
            "friendship_score": 14,
            "friendship_level": "stranger",
            "score_delta": 14,
        }
        assert channel.basic_get(queue=queue, auto_ack=True)[0] is None, "one event only"
    finally:
        connection.close()


async def test_broker_down_loses_the_event_but_answers(
    legacy_env: dict[str, str],
    fakes: FakeDeps,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The score is committed and answered, the publish fails, and nothing keeps the event
    to send later (no outbox row): once the broker is back, nobody ever hears of it."""
    monkeypatch.setenv("AMQP_URL", f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    app = create_app()
    with caplog.at_level(logging.ERROR, logger="legacy.events"):
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://legacy") as api:
                response = await api.post("/v1/conversations/end", json=conversation())
    assert response.status_code == 200, "legacy bug: the event is logged and lost"
    assert response.json()["friendship_score"] == 14
    lost = [r.getMessage() for r in caplog.records if r.name == "legacy.events"]
    assert len(lost) == 1 and "failed, event lost" in lost[0], lost
    url = legacy_env["DATABASE_URL"]
    assert _rows(url, "SELECT score FROM friendships WHERE user_id = 'u1'") == [(14,)]
    assert _rows(url, "SELECT count(*) FROM outbox_events") == [(0,)], "nothing kept to resend"


def _rows(database_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(psycopg2_url(database_url))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()
