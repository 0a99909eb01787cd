"""No blocking call on the event loop: every request path, the nightly job, the outbox relay
publishing to RabbitMQ and the alert webhook posts, all under blockbuster.

The real adapters (asyncpg, the httpx-aiohttp transport, aio-pika, the real fakes as
processes) run with blockbuster active; any blocking call (socket, file, time.sleep, a
lock) raises BlockingError. On a request path that answers 500, which the assertions
catch. In the background the relay's broad ``except`` (it must outlive any failure) and the
publisher's (any broker error is BrokerUnavailable) would turn it into a logged, retried
failure, so the test also asserts that the relay never failed: no warning logged, every
outbox row published on its first attempt with no ``last_error``. Legacy would fail at
its first sync httpx call.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aio_pika
import httpx
import pytest
import sqlalchemy as sa
from blockbuster import BlockingError, blockbuster_ctx
from sqlalchemy.ext.asyncio import create_async_engine

from refactored.main import create_app
from testbed.fakes import AsyncFakeControl, start_fake
from testbed.processes import ProcessGroup
from tests.integration.refactored.conftest import make_settings
from tests.integration.refactored.test_endpoints import conversation
from tests.integration.refactored.test_outbox import consume

pytestmark = pytest.mark.integration
BREAKER_OPEN_CARD = "[P0] Circuit breaker open: llm"
WAIT_S = 30.0  # hang guard for the background work, not a latency assert


class Records(logging.Handler):
    """Keeps every record the service logs (a fake handler: assertions read ``records``)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def background_failures(warnings: Records) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()} {getattr(r, 'error', '')}"
        for r in warnings.records
        if r.name.startswith("refactored.infrastructure.messaging")
        or r.getMessage() == "alert webhook failed"
    ]


async def background_work_done(
    queue: aio_pika.abc.AbstractQueue,
    conversations: set[str],
    webhook: AsyncFakeControl,
    warnings: Records,
) -> None:
    """Until the broker delivered an event for each of ``conversations`` and the webhook got
    the breaker card; a logged relay or webhook failure ends the wait at once."""
    seen: set[str] = set()
    while True:
        failures = background_failures(warnings)
        assert failures == [], "a background failure (a BlockingError?) was caught and logged"
        while (message := await queue.get(fail=False)) is not None:
            await message.ack()
            seen.add(json.loads(message.body)["conversation_id"])
        cards = [card["title"] for card in await webhook.cards()]
        if conversations <= seen and BREAKER_OPEN_CARD in cards:
            return
        await asyncio.sleep(0.05)


async def test_request_paths_nightly_job_relay_and_alerts_never_block(
    processes: ProcessGroup, database_url: str, amqp_url: str
) -> None:
    llm = start_fake(processes, "llm")
    memory = start_fake(processes, "memory")
    webhook = start_fake(processes, "webhook")
    settings = make_settings(
        database_url,
        llm_base_url=llm.base_url,
        memory_api_url=memory.base_url,
        http_transport="aiohttp",
        rate_limit_enabled=True,
        amqp_url=amqp_url,
        alert_webhook_url=f"{webhook.base_url}/",
    )
    queue, consumer = await consume(amqp_url)
    cards = AsyncFakeControl(webhook.base_url)
    app = create_app(settings)
    warnings = Records()
    logging.getLogger("refactored").addHandler(warnings)  # after create_app configured logging
    try:
        async with app.router.lifespan_context(app):  # startup may read certificates: no path
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
                with blockbuster_ctx(["refactored"]) as bb:
                    answers: list[Any] = [
                        await client.post("/v1/conversations/end", json=conversation()),
                        await client.post("/v1/conversations/end", json=conversation()),  # replay
                        await client.post(
                            "/v1/activities/suggest", json={"user_id": "u1", "agent_id": "a1"}
                        ),
                        await client.get("/v1/friendships/u1/a1"),
                        await client.get("/health"),
                        await client.get("/health/ready"),
                        await client.post(
                            "/v1/admin/nightly",
                            headers={"Authorization": "Bearer tttttttt"},
                            json={"now": "2025-01-05T03:00:00Z"},
                        ),
                    ]
                    llm.control.set_faults(error={"status": 503, "mode": "all"})
                    # its LLM calls fail 9 times: the breaker opens, a P0 card is posted
                    answers.append(
                        await client.post("/v1/conversations/end", json=conversation("degraded"))
                    )
                    # the relay (woken by each commit) publishes both events to RabbitMQ
                    try:
                        async with asyncio.timeout(WAIT_S):
                            await background_work_done(queue, {"c1", "degraded"}, cards, warnings)
                    except TimeoutError:
                        pytest.fail("events not relayed or no breaker card posted in time")
                    assert bb is not None
    finally:
        logging.getLogger("refactored").removeHandler(warnings)
        await cards.aclose()
        await consumer.close()
    statuses = [a.status_code for a in answers]
    assert statuses == [200] * 8, [a.text for a in answers]
    assert answers[-1].json()["degraded"] == ["emotion", "questions", "topics"]

    assert background_failures(warnings) == []
    engine = create_async_engine(settings.async_database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text("SELECT attempts, last_error, published_at FROM outbox_events")
                )
            ).all()
    finally:
        await engine.dispose()
    assert len(rows) == 2
    assert all((r.attempts, r.last_error) == (1, None) and r.published_at for r in rows), rows


async def test_blockbuster_really_catches_a_blocking_call() -> None:
    """The detector works in this setup: a sync sleep inside the loop is caught."""
    import time

    with blockbuster_ctx(), pytest.raises(BlockingError):
        time.sleep(0.001)
