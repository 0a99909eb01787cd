"""The `friendship.score_updated` event body (docs/conventions.md §9)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

EVENT_TYPE = "friendship.score_updated"
ROUTING_KEY = "friendship.score_updated"
EXCHANGE = "friendship"


def iso(value: datetime) -> str:
    """The one datetime format of every response and event."""
    return value.astimezone(UTC).isoformat()


def score_updated_event(
    *,
    conversation_id: str,
    user_id: str,
    agent_id: str,
    friendship_score: int,
    friendship_level: str,
    score_delta: int,
    occurred_at: datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": EVENT_TYPE,
        "occurred_at": iso(occurred_at),
        "conversation_id": conversation_id,
        "user_id": user_id,
        "agent_id": agent_id,
        "friendship_score": friendship_score,
        "friendship_level": friendship_level,
        "score_delta": score_delta,
    }
    if reason is not None:
        event["reason"] = reason
    return event
