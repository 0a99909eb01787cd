"""Friendship scoring rules (docs/scoring.md), legacy's own copy, as plain functions over dicts.

These functions do no I/O so the contract tests can call them without a database;
the request and nightly code paths call them with what they read from PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

EMOTION_POINTS = {
    "very_negative": -10,
    "negative": -5,
    "neutral": 0,
    "positive": 5,
    "very_positive": 10,
}
LEVELS = (  # (lowest score of the level, name), highest first
    (850, "best_friend"),
    (600, "close_friend"),
    (300, "friend"),
    (100, "acquaintance"),
    (0, "stranger"),
)
MIN_SCORE, MAX_SCORE = 0, 1000
MIN_DELTA, MAX_DELTA = -20, 30
STREAK_WINDOW = timedelta(hours=36)
STREAK_POINTS = 5
DECAY_AFTER = timedelta(hours=72)


def level_for_score(score: int) -> str:
    for lowest, name in LEVELS:
        if score >= lowest:
            return name
    return "stranger"


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def compute_score_update(
    prior: dict[str, Any] | None,
    analysis: dict[str, Any],
    user_message_count: int,
    ended_at: datetime,
) -> dict[str, Any]:
    """Score update of one conversation.

    prior: None (new friendship) or {"score": int, "last_interaction_at": datetime | None,
    "topic_metrics": {topic: {"mentions", "positive", "negative", "last_seen"}}}.
    analysis: {"emotion": str, "user_questions": int, "topics": [str]}.
    Returns {"score_delta", "friendship_score", "friendship_level", "topic_metrics"
    (every topic after the update), "last_interaction_at"}.
    """
    score = prior["score"] if prior else 0
    last_interaction_at = prior.get("last_interaction_at") if prior else None
    old_metrics = prior.get("topic_metrics", {}) if prior else {}
    emotion = analysis["emotion"]
    topics = list(dict.fromkeys(analysis["topics"]))

    new_topics = [t for t in topics if t not in old_metrics]
    points = EMOTION_POINTS[emotion]
    points += 2 * min(analysis["user_questions"], 5)
    points += min(user_message_count // 3, 8)
    points += min(3 * len(new_topics), 9)
    if last_interaction_at is not None:
        gap = ended_at - last_interaction_at
        if timedelta(0) < gap <= STREAK_WINDOW:
            points += STREAK_POINTS
    delta = _clamp(points, MIN_DELTA, MAX_DELTA)
    new_score = _clamp(score + delta, MIN_SCORE, MAX_SCORE)

    metrics = {topic: dict(values) for topic, values in old_metrics.items()}
    for topic in topics:
        entry = metrics.setdefault(topic, {"mentions": 0, "positive": 0, "negative": 0})
        entry["mentions"] += 1
        if emotion in ("positive", "very_positive"):
            entry["positive"] += 1
        elif emotion in ("negative", "very_negative"):
            entry["negative"] += 1
        entry["last_seen"] = ended_at

    return {
        "score_delta": delta,
        "friendship_score": new_score,
        "friendship_level": level_for_score(new_score),
        "topic_metrics": metrics,
        "last_interaction_at": (
            ended_at if last_interaction_at is None else max(last_interaction_at, ended_at)
        ),
    }


def compute_decay(friendship: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Nightly decay of one friendship at ``now``.

    friendship: {"score": int, "last_interaction_at": datetime | None,
    "last_decay_date": date | None}. Returns {"decay_due": bool, "score", "level",
    "last_decay_date"}; when not due, score/level/date are unchanged.
    """
    today = now.astimezone(UTC).date()
    score = friendship["score"]
    last = friendship.get("last_interaction_at")
    due = (
        last is not None
        and last <= now - DECAY_AFTER
        and friendship.get("last_decay_date") != today
    )
    if not due:
        return {
            "decay_due": False,
            "score": score,
            "level": level_for_score(score),
            "last_decay_date": friendship.get("last_decay_date"),
        }
    if score > 0:
        score -= max(1, score // 100)
    return {
        "decay_due": True,
        "score": score,
        "level": level_for_score(score),
        "last_decay_date": today,
    }


def summary_due(friendship: dict[str, Any], now: datetime) -> bool:
    """Friendships active in the last 24 h get a fresh summary."""
    last = friendship.get("last_interaction_at")
    return last is not None and last >= now - timedelta(hours=24)
