"""docs/scoring.md as a tiny executable model, fed the fake LLM's deterministic analysis.

Used under faults to check that an answer is *honest*: a conversation whose
``degraded`` names fallbacks must be scored exactly as docs/scoring.md gives with the
fallback values (emotion ``neutral``, questions ``0``, topics ``[]``; memory
changes nothing), from the state the earlier answers left. Written from the spec,
not from either version, so it also checks the fault-free run.

It models what docs/conventions.md §4 and docs/scoring.md state: scoring, idempotency per
owner (by ``user_id``, ``agent_id``, ``conversation_id``), the nightly decay. Refactored's
nightly re-score of degraded conversations is not in docs/scoring.md: the caller stops
modelling a friendship once it was re-scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from doubles.fakes.llm.answers import answer_emotion, answer_questions, answer_topics

EMOTION_POINTS = {
    "very_negative": -10,
    "negative": -5,
    "neutral": 0,
    "positive": 5,
    "very_positive": 10,
}
LEVELS = ((850, "best_friend"), (600, "close_friend"), (300, "friend"), (100, "acquaintance"))
FALLBACK: dict[str, Any] = {"emotion": "neutral", "questions": 0, "topics": []}
STREAK = timedelta(hours=36)
IDLE_BEFORE_DECAY = timedelta(hours=72)


def level(score: int) -> str:
    return next((name for low, name in LEVELS if score >= low), "stranger")


def when(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@dataclass
class Topic:
    mentions: int = 0
    positive: int = 0
    negative: int = 0
    last_seen: datetime | None = None


@dataclass
class Friend:
    score: int = 0
    last: datetime | None = None
    decayed_on: date | None = None
    topics: dict[str, Topic] = field(default_factory=dict)


def true_analysis(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """What the fake LLM answers for these messages (docs/conventions.md §6), as the services
    see it."""
    return {
        "emotion": answer_emotion(messages)["emotion"],
        "questions": answer_questions(messages)["user_questions"],
        "topics": answer_topics(messages)["topics"],
    }


class SpecModel:
    def __init__(self) -> None:
        self.friends: dict[tuple[str, str], Friend] = {}
        # (user_id, agent_id, conversation_id) -> its answer: the key of docs/conventions.md §4
        self.stored: dict[tuple[str, str, str], dict[str, Any]] = {}

    def end(self, body: dict[str, Any], degraded: list[str]) -> dict[str, Any]:
        """The answer to a conversation-end whose fallbacks were ``degraded``."""
        cid = body["conversation_id"]
        owned = (body["user_id"], body["agent_id"], cid)
        if owned in self.stored:  # idempotent: the stored answer, whatever the new body
            return self.stored[owned]
        analysis = true_analysis(body["messages"])
        analysis |= {k: FALLBACK[k] for k in degraded if k in FALLBACK}
        key = (body["user_id"], body["agent_id"])
        friend = self.friends.setdefault(key, Friend())
        ended = when(body["ended_at"])
        users = sum(1 for m in body["messages"] if m["role"] == "user")
        new_topics = [t for t in analysis["topics"] if t not in friend.topics]
        streak = friend.last is not None and timedelta(0) < ended - friend.last <= STREAK
        total = (
            EMOTION_POINTS[analysis["emotion"]]
            + 2 * min(analysis["questions"], 5)
            + min(users // 3, 8)
            + min(3 * len(new_topics), 9)
            + (5 if streak else 0)
        )
        delta = max(-20, min(30, total))
        friend.score = max(0, min(1000, friend.score + delta))
        for t in analysis["topics"]:
            topic = friend.topics.setdefault(t, Topic())
            topic.mentions += 1
            topic.positive += analysis["emotion"] in ("positive", "very_positive")
            topic.negative += analysis["emotion"] in ("negative", "very_negative")
            topic.last_seen = ended
        friend.last = ended if friend.last is None else max(friend.last, ended)
        answer = {
            "conversation_id": cid,
            "user_id": body["user_id"],
            "agent_id": body["agent_id"],
            "friendship_score": friend.score,
            "friendship_level": level(friend.score),
            "score_delta": delta,
            "emotion": analysis["emotion"],
            "user_questions": analysis["questions"],
            "topics": list(analysis["topics"]),
            "degraded": list(degraded),
        }
        self.stored[owned] = answer
        return answer

    def nightly(self, now: datetime) -> list[tuple[str, str]]:
        """Decay every friendship idle for 72 h, once per date; returns the decayed ones."""
        decayed = []
        for key, f in self.friends.items():
            if (
                f.last is not None
                and f.last <= now - IDLE_BEFORE_DECAY
                and f.decayed_on != now.date()
            ):
                if f.score > 0:
                    f.score -= max(1, f.score // 100)
                f.decayed_on = now.date()
                decayed.append(key)
        return decayed

    def rows(self, key: tuple[str, str]) -> dict[str, Any]:
        """The friendship's modelled DB fields, shaped like :func:`stored_rows`."""
        f = self.friends[key]
        return {
            "score": f.score,
            "level": level(f.score),
            "last_interaction_at": f.last,
            "last_decay_date": f.decayed_on,
            "topics": {
                t: (m.mentions, m.positive, m.negative, m.last_seen) for t, m in f.topics.items()
            },
        }


def stored_rows(
    state: dict[str, list[dict[str, Any]]], key: tuple[str, str]
) -> dict[str, Any] | None:
    """The same fields read from a DB snapshot (timestamps parsed, dates as dates)."""
    row = next((r for r in state["friendships"] if (r["user_id"], r["agent_id"]) == key), None)
    if row is None:
        return None
    last_decay = row["last_decay_date"]
    return {
        "score": row["score"],
        "level": row["level"],
        "last_interaction_at": when(row["last_interaction_at"])
        if row["last_interaction_at"]
        else None,
        "last_decay_date": date.fromisoformat(last_decay)
        if isinstance(last_decay, str)
        else last_decay,
        "topics": {
            m["topic"]: (m["mentions"], m["positive"], m["negative"], when(m["last_seen"]))
            for m in state["topic_metrics"]
            if (m["user_id"], m["agent_id"]) == key
        },
    }
