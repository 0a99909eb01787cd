"""AioPikaEventPublisher: publishes `friendship.score_updated` to the `friendship` exchange.

Every broker operation (connect, channel, declare, publish + confirm, close) is bounded by
``timeout_s``: a broker that is down, half-open (a proxy that stopped forwarding) or
reconnecting can never hold the caller — the outbox relay — longer than that. A plain
connection rather than aio-pika's ``RobustConnection``: reconnection is ours (the next
publish after a failure opens a new connection, paced by the relay's backoff); a robust
connection reconnecting on its own made ``close()`` wait for its reconnect loop, which is
how the relay hung after a broker outage.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractExchange
from opentelemetry import trace

from refactored.application.errors import BrokerUnavailable
from refactored.application.events import EXCHANGE, ROUTING_KEY

log = logging.getLogger(__name__)


class AioPikaEventPublisher:
    """Lazily connects; a publish either is confirmed by the broker or raises BrokerUnavailable."""

    def __init__(self, amqp_url: str, timeout_s: float, tracer: trace.Tracer | None = None) -> None:
        self._url = amqp_url
        self._timeout = timeout_s
        self._tracer = tracer or trace.get_tracer(__name__)
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def _ensure_exchange(self) -> AbstractExchange:
        async with self._lock:
            if self._exchange is None or self._connection is None or self._connection.is_closed:
                await self._reset()
                self._connection = await aio_pika.connect(self._url, timeout=self._timeout)
                channel = await self._connection.channel(publisher_confirms=True)
                self._exchange = await channel.declare_exchange(
                    EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
                )
            return self._exchange

    async def _reset(self) -> None:
        """Forget the connection; close it, but never wait longer than one operation."""
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await connection.close()
        except Exception:  # broken or hung: nothing more to release that we can wait for
            log.debug("closing a broken AMQP connection failed", exc_info=True)

    async def publish(self, event: dict[str, Any]) -> None:
        with self._tracer.start_as_current_span("amqp.publish"):
            message = aio_pika.Message(
                body=json.dumps(event).encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=event["event_id"],
                type=event["event_type"],
            )
            try:
                async with asyncio.timeout(self._timeout):
                    exchange = await self._ensure_exchange()
                    await exchange.publish(message, routing_key=ROUTING_KEY)
            except Exception as exc:  # timeouts, socket errors, AMQP errors, closed channels
                await self._reset()
                raise BrokerUnavailable(f"broker unavailable: {exc!r}") from exc

    async def aclose(self) -> None:
        await self._reset()
