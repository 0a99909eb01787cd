"""RabbitMQ publish with pika, inline after commit, one new connection per publish.

Legacy bug kept: when the broker is down the event is logged and lost (no outbox).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pika

logger = logging.getLogger("legacy.events")

EXCHANGE = "friendship"
ROUTING_KEY = "friendship.score_updated"


def score_updated_event(response: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": ROUTING_KEY,
        "occurred_at": datetime.now(UTC).isoformat(),
        "conversation_id": response["conversation_id"],
        "user_id": response["user_id"],
        "agent_id": response["agent_id"],
        "friendship_score": response["friendship_score"],
        "friendship_level": response["friendship_level"],
        "score_delta": response["score_delta"],
    }


def publish_score_updated(amqp_url: str | None, response: dict[str, Any]) -> None:
    if not amqp_url:
        return
    event = score_updated_event(response)
    try:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = connection.channel()
            channel.exchange_declare(exchange=EXCHANGE, exchange_type="topic", durable=True)
            channel.basic_publish(
                exchange=EXCHANGE,
                routing_key=ROUTING_KEY,
                body=json.dumps(event).encode(),
                properties=pika.BasicProperties(
                    content_type="application/json",
                    delivery_mode=2,
                    message_id=event["event_id"],
                ),
            )
        finally:
            connection.close()
    except Exception as exc:
        logger.error("publish of %s failed, event lost: %r", event["event_id"], exc)
