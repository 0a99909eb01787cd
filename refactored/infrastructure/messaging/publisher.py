"""AioPikaEventPublisher: publishes `friendship.score_updated` to the `friendship` exchange."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from opentelemetry import trace

from refactored.application.errors import BrokerUnavailable
from refactored.application.events import EXCHANGE, ROUTING_KEY

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class AioPikaEventPublisher:
    """Lazily connects; a publish either is confirmed by the broker or raises BrokerUnavailable."""

    def __init__(self, amqp_url: str, timeout_s: float) -> None:
        self._url = amqp_url
        self._timeout = timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def _ensure_exchange(self) -> AbstractExchange:
        async with self._lock:
            if self._exchange is None:
                self._connection = await aio_pika.connect_robust(self._url, timeout=self._timeout)
                channel = await self._connection.channel(publisher_confirms=True)
                self._exchange = await channel.declare_exchange(
                    EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
                )
            return self._exchange

    async def _reset(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # already broken: nothing more to release
                log.debug("closing a broken AMQP connection failed", exc_info=True)

    async def publish(self, event: dict[str, Any]) -> None:
        with tracer.start_as_current_span("amqp.publish"):
            try:
                async with asyncio.timeout(self._timeout):
                    exchange = await self._ensure_exchange()
                    message = aio_pika.Message(
                        body=json.dumps(event).encode(),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=event["event_id"],
                        type=event["event_type"],
                    )
                    await exchange.publish(message, routing_key=ROUTING_KEY)
            except (TimeoutError, OSError, aio_pika.exceptions.AMQPException) as exc:
                await self._reset()
                raise BrokerUnavailable(f"broker unavailable: {exc!r}") from exc

    async def aclose(self) -> None:
        await self._reset()
