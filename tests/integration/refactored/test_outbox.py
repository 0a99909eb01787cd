"""The outbox on real PostgreSQL and RabbitMQ: at-least-once, nothing lost in a broker outage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
import sqlalchemy as sa

from refactored.application.errors import BrokerUnavailable
from refactored.infrastructure.db.engine import PoolConfig, build_engine
from refactored.infrastructure.messaging.outbox import OutboxRelay
from refactored.infrastructure.messaging.publisher import AioPikaEventPublisher
from tests.integration.refactored.test_endpoints import conversation
from tests.unit.refactored.fakes import RecordingPublisher

pytestmark = pytest.mark.integration
DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1/"  # nothing listens on port 1


async def consume(amqp_url: str) -> tuple[aio_pika.abc.AbstractQueue, Any]:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        "friendship", aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="friendship.score_updated")
    return queue, connection


async def drain(
    queue: aio_pika.abc.AbstractQueue, ids: set[str], timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Our events only: other tests may publish to the same shared exchange."""
    received: list[dict[str, Any]] = []
    expected = len(ids)
    deadline = asyncio.get_running_loop().time() + timeout
    while len(received) < expected and asyncio.get_running_loop().time() < deadline:
        message = await queue.get(fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        await message.ack()
        if message.message_id in ids:
            received.append(json.loads(message.body))
    # anything extra (a duplicate) would arrive right after: look once more
    await asyncio.sleep(0.3)
    while (message := await queue.get(fail=False)) is not None:
        await message.ack()
        if message.message_id in ids:
            received.append(json.loads(message.body))
    return received


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Any]:
    url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    eng = build_engine(url, PoolConfig(4, 0, 5.0, 5.0, 5.0), "test-outbox")
    yield eng
    await eng.dispose()


async def unpublished(engine: Any) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                sa.text("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")
            )
        )


async def test_every_event_arrives_once_after_a_broker_outage(
    app_client: Any, engine: Any, amqp_url: str
) -> None:
    queue, connection = await consume(amqp_url)
    try:
        async with app_client() as client:  # AMQP_URL unset: the outbox accumulates
            for i in range(5):
                response = await client.post(
                    "/v1/conversations/end", json=conversation(f"c{i}", user=f"u{i}")
                )
                assert response.status_code == 200
        assert await unpublished(engine) == 5
        async with engine.connect() as conn:
            ids = {
                str(i)
                for i in (await conn.execute(sa.text("SELECT id FROM outbox_events"))).scalars()
            }

        down = AioPikaEventPublisher(DEAD_BROKER, timeout_s=2.0)
        relay = OutboxRelay(engine, down, batch_size=10, poll_interval_s=0.05, backlog_alert=1000)
        assert await relay.relay_once() == 0  # broker down: nothing lost, nothing published
        assert await unpublished(engine) == 5

        up = AioPikaEventPublisher(amqp_url, timeout_s=5.0)
        relay = OutboxRelay(engine, up, batch_size=2, poll_interval_s=0.05, backlog_alert=1000)
        task = asyncio.create_task(relay.run())
        received = await drain(queue, ids)
        task.cancel()
        await up.aclose()
        await down.aclose()
    finally:
        await connection.close()
    ids = [event["event_id"] for event in received]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert {event["conversation_id"] for event in received} == {f"c{i}" for i in range(5)}
    assert await unpublished(engine) == 0


async def test_relay_records_the_failure_and_keeps_the_event(app_client: Any, engine: Any) -> None:
    async with app_client() as client:
        await client.post("/v1/conversations/end", json=conversation())
    failing = RecordingPublisher(fail=BrokerUnavailable("down"))
    relay = OutboxRelay(engine, failing, batch_size=10, poll_interval_s=0.05, backlog_alert=1000)
    assert await relay.relay_once() == 0
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text("SELECT attempts, last_error, published_at FROM outbox_events")
            )
        ).one()
    assert (row.attempts, row.published_at) == (1, None)
    assert "down" in row.last_error
    assert await relay.backlog() == 1


@pytest.mark.parametrize("disable", ["", "outbox"], ids=["enabled", "disabled"])
async def test_outbox_policy_keeps_events_through_a_broker_error(
    app_client: Any, engine: Any, disable: str
) -> None:
    """With the outbox an event survives a broker error; without it (inline publish) it is lost."""
    from refactored.main import Overrides

    broken = RecordingPublisher(fail=BrokerUnavailable("broker down"))
    async with app_client(
        Overrides(publisher=broken, background_tasks=False), resilience_disable=disable
    ) as client:
        response = await client.post("/v1/conversations/end", json=conversation())
        assert response.status_code == 200  # the request never fails because of the broker
    healed = RecordingPublisher()
    relay = OutboxRelay(engine, healed, batch_size=10, poll_interval_s=0.05, backlog_alert=1000)
    await relay.relay_once()
    if disable:
        assert healed.events == []  # the inline publish failed and nothing kept the event
    else:
        assert [e["conversation_id"] for e in healed.events] == ["c1"]


async def test_a_committed_event_wakes_the_relay_long_before_its_poll(app_client: Any) -> None:
    """The store notifies the relay after the commit: no waiting for OUTBOX_POLL_INTERVAL_S."""
    from refactored.main import Overrides

    publisher = RecordingPublisher()
    poll_s = 3600 * 0.1  # OUTBOX_POLL_INTERVAL_S x TIME_SCALE of make_settings: 6 minutes
    async with app_client(Overrides(publisher=publisher), outbox_poll_interval_s=3600) as client:
        # The first event may still be caught by the relay's first pass at start-up; the
        # second is committed after the relay published the first and went back to waiting.
        for n, cid in enumerate(("c1", "c2"), start=1):
            response = await client.post("/v1/conversations/end", json=conversation(cid))
            assert response.status_code == 200
            # a hang guard far below the poll interval, not a latency assert
            async with asyncio.timeout(poll_s / 10):
                while len(publisher.events) < n:
                    await asyncio.sleep(0.01)
    assert [e["conversation_id"] for e in publisher.events] == ["c1", "c2"]
