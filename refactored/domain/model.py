"""Entities and value objects of the friendship domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Emotion(StrEnum):
    VERY_NEGATIVE = "very_negative"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"
    VERY_POSITIVE = "very_positive"


EMOTIONS: tuple[str, ...] = tuple(e.value for e in Emotion)


class Level(StrEnum):
    STRANGER = "stranger"
    ACQUAINTANCE = "acquaintance"
    FRIEND = "friend"
    CLOSE_FRIEND = "close_friend"
    BEST_FRIEND = "best_friend"


@dataclass(frozen=True)
class TopicMetric:
    """How often a topic came up in a friendship and with which sentiment."""

    topic: str
    mentions: int
    positive: int
    negative: int
    last_seen: datetime


@dataclass(frozen=True)
class Analysis:
    """What the LLM said about one conversation (after normalisation or fallback)."""

    emotion: str
    user_questions: int
    topics: tuple[str, ...]


@dataclass(frozen=True)
class FriendshipState:
    """The stored status a conversation is scored against (a new friendship: score 0)."""

    score: int = 0
    topic_metrics: dict[str, TopicMetric] = field(default_factory=dict)
    last_interaction_at: datetime | None = None


@dataclass(frozen=True)
class ScoreOutcome:
    """The result of scoring one conversation."""

    score_delta: int
    score: int
    level: str
    topic_metrics: dict[str, TopicMetric]
    last_interaction_at: datetime


@dataclass(frozen=True)
class DecayOutcome:
    """The result of the nightly decay of one friendship."""

    score: int
    level: str
    decay_date: date
