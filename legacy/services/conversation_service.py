"""End of a conversation: idempotency check, the one-transaction write, reading it back.

Legacy shape kept: the same Session (and its pooled connection, inside an open
transaction) is used before and after the slow LLM calls the route makes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from legacy.services.friendship_service import compute_score_update


def find_processed_response(db: Session, conversation_id: str) -> dict[str, Any] | None:
    row = db.execute(
        text("SELECT response FROM processed_conversations WHERE conversation_id = :cid"),
        {"cid": conversation_id},
    ).first()
    return None if row is None else row[0]


def _load_prior_locked(db: Session, user_id: str, agent_id: str) -> dict[str, Any]:
    key = {"u": user_id, "a": agent_id}
    db.execute(
        text(
            "INSERT INTO friendships (user_id, agent_id, score, level) "
            "VALUES (:u, :a, 0, 'stranger') ON CONFLICT DO NOTHING"
        ),
        key,
    )
    row = db.execute(
        text(
            "SELECT score, last_interaction_at FROM friendships "
            "WHERE user_id = :u AND agent_id = :a FOR UPDATE"
        ),
        key,
    ).one()
    metrics = db.execute(
        text(
            "SELECT topic, mentions, positive, negative, last_seen FROM topic_metrics "
            "WHERE user_id = :u AND agent_id = :a"
        ),
        key,
    ).all()
    return {
        "score": row.score,
        "last_interaction_at": row.last_interaction_at,
        "topic_metrics": {
            m.topic: {
                "mentions": m.mentions,
                "positive": m.positive,
                "negative": m.negative,
                "last_seen": m.last_seen,
            }
            for m in metrics
        },
    }


def save_conversation(
    db: Session,
    conversation: dict[str, Any],
    analysis: dict[str, Any],
    degraded: list[str],
) -> tuple[dict[str, Any], bool]:
    """Write score, topics and the processed record in one transaction.

    Returns (response, written). When a concurrent request with the same
    conversation_id won the race, returns its stored response and False.
    """
    user_id, agent_id = conversation["user_id"], conversation["agent_id"]
    ended_at: datetime = conversation["ended_at"]
    user_message_count = sum(1 for m in conversation["messages"] if m["role"] == "user")
    prior = _load_prior_locked(db, user_id, agent_id)
    update = compute_score_update(prior, analysis, user_message_count, ended_at)
    key = {"u": user_id, "a": agent_id}
    db.execute(
        text(
            "UPDATE friendships SET score = :score, level = :level, "
            "last_interaction_at = :last, updated_at = now() "
            "WHERE user_id = :u AND agent_id = :a"
        ),
        {
            **key,
            "score": update["friendship_score"],
            "level": update["friendship_level"],
            "last": update["last_interaction_at"],
        },
    )
    for topic in analysis["topics"]:
        values = update["topic_metrics"][topic]
        db.execute(
            text(
                "INSERT INTO topic_metrics (user_id, agent_id, topic, mentions, positive, "
                "negative, last_seen) VALUES (:u, :a, :t, :m, :p, :n, :s) "
                "ON CONFLICT (user_id, agent_id, topic) DO UPDATE SET mentions = :m, "
                "positive = :p, negative = :n, last_seen = :s"
            ),
            {
                **key,
                "t": topic,
                "m": values["mentions"],
                "p": values["positive"],
                "n": values["negative"],
                "s": values["last_seen"],
            },
        )
    response = {
        "conversation_id": conversation["conversation_id"],
        "user_id": user_id,
        "agent_id": agent_id,
        "friendship_score": update["friendship_score"],
        "friendship_level": update["friendship_level"],
        "score_delta": update["score_delta"],
        "emotion": analysis["emotion"],
        "user_questions": analysis["user_questions"],
        "topics": analysis["topics"],
        "degraded": degraded,
    }
    stored_analysis = {**analysis, "user_message_count": user_message_count}
    # Migration 0002 keys processed_conversations on (conversation_id, user_id, agent_id)
    # for refactored's per-owner idempotency, so the unique key no longer stops a second
    # owner racing with the same conversation_id. Legacy keeps its global key (a kept bug,
    # named in the contracts): this lock + re-check is what the old key did, and the loser
    # of the race answers the winner's stored response, whoever owns it. (The two-int4 key
    # space never meets a single-bigint lock such as refactored's nightly lock.)
    db.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('processed_conversations'), hashtext(:cid))"),
        {"cid": conversation["conversation_id"]},
    )
    winner = find_processed_response(db, conversation["conversation_id"])
    if winner is not None:
        db.rollback()
        return winner, False
    try:
        db.execute(
            text(
                "INSERT INTO processed_conversations (conversation_id, user_id, agent_id, "
                "started_at, ended_at, score_delta, analysis, degraded, response) VALUES "
                "(:cid, :u, :a, :started, :ended, :delta, CAST(:analysis AS jsonb), "
                "CAST(:degraded AS jsonb), CAST(:response AS jsonb))"
            ),
            {
                **key,
                "cid": conversation["conversation_id"],
                "started": conversation["started_at"],
                "ended": ended_at,
                "delta": update["score_delta"],
                "analysis": json.dumps(stored_analysis),
                "degraded": json.dumps(degraded),
                "response": json.dumps(response),
            },
        )
        db.commit()
    except IntegrityError:
        # A concurrent request with the same conversation_id committed first.
        db.rollback()
        winner = find_processed_response(db, conversation["conversation_id"])
        if winner is None:
            raise
        db.commit()
        return winner, False
    return response, True
