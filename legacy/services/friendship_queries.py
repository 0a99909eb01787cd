"""Reads of the friendship status for the GET endpoint, activities and the summary job."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from legacy.services.llm_analysis_utils import iso


def load_friendship(db: Session | Connection, user_id: str, agent_id: str) -> dict[str, Any] | None:
    key = {"u": user_id, "a": agent_id}
    row = db.execute(
        text(
            "SELECT score, level, last_interaction_at, last_decay_date, summary "
            "FROM friendships WHERE user_id = :u AND agent_id = :a"
        ),
        key,
    ).first()
    if row is None:
        return None
    topics = db.execute(
        text(
            "SELECT topic, mentions, positive, negative, last_seen FROM topic_metrics "
            "WHERE user_id = :u AND agent_id = :a ORDER BY topic"
        ),
        key,
    ).all()
    return {
        "user_id": user_id,
        "agent_id": agent_id,
        "score": row.score,
        "level": row.level,
        "last_interaction_at": row.last_interaction_at,
        "last_decay_date": row.last_decay_date,
        "summary": row.summary,
        "topics": [dict(t._mapping) for t in topics],
    }


def friendship_response(friendship: dict[str, Any]) -> dict[str, Any]:
    last = friendship["last_interaction_at"]
    decay = friendship["last_decay_date"]
    return {
        "user_id": friendship["user_id"],
        "agent_id": friendship["agent_id"],
        "friendship_score": friendship["score"],
        "friendship_level": friendship["level"],
        "last_interaction_at": None if last is None else iso(last),
        "last_decay_date": None if decay is None else decay.isoformat(),
        "summary": friendship["summary"],
        "topics": [
            {
                "topic": t["topic"],
                "mentions": t["mentions"],
                "positive": t["positive"],
                "negative": t["negative"],
                "last_seen": iso(t["last_seen"]),
            }
            for t in friendship["topics"]
        ],
    }


def top_topics(friendship: dict[str, Any] | None, limit: int = 5) -> list[str]:
    """Topic names by mentions desc, then name: the LLM's context for activities and summary."""
    if friendship is None:
        return []
    ordered = sorted(friendship["topics"], key=lambda t: (-t["mentions"], t["topic"]))
    return [t["topic"] for t in ordered[:limit]]
