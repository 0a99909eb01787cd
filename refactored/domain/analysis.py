"""Normalisation of LLM answers and the fallback values (docs/conventions.md §4).

Each ``normalise_*`` returns the clean value or raises :class:`InvalidAnswer`,
which the caller counts as a failed call (so the fallback applies).
"""

from __future__ import annotations

from dataclasses import dataclass

from refactored.domain.model import EMOTIONS, Analysis

MAX_TOPICS = 5
MAX_TOPIC_LENGTH = 32

FALLBACK_EMOTION = "neutral"
FALLBACK_QUESTIONS = 0
FALLBACK_TOPICS: tuple[str, ...] = ()

# The order in which fallbacks are named in ``degraded``.
DEGRADED_ORDER = ("emotion", "questions", "topics", "memory")
LLM_FIELDS = frozenset({"emotion", "questions", "topics"})


class InvalidAnswer(ValueError):
    """An LLM answer that does not have the expected shape."""


def normalise_emotion(value: object) -> str:
    if not isinstance(value, str) or value not in EMOTIONS:
        raise InvalidAnswer(f"emotion must be one of {EMOTIONS}, got {value!r}")
    return value


def normalise_questions(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidAnswer(f"user_questions must be an int >= 0, got {value!r}")
    return value


def normalise_topics(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidAnswer(f"topics must be a list, got {type(value).__name__}")
    cleaned = {item.strip().lower() for item in value if isinstance(item, str)}
    cleaned = {topic for topic in cleaned if 0 < len(topic) <= MAX_TOPIC_LENGTH}
    return tuple(sorted(cleaned)[:MAX_TOPICS])


def fallback_analysis(
    emotion: str | None, questions: int | None, topics: tuple[str, ...] | None
) -> Analysis:
    """Fill every missing part with its fallback value (docs/scoring.md)."""
    return Analysis(
        emotion=FALLBACK_EMOTION if emotion is None else emotion,
        user_questions=FALLBACK_QUESTIONS if questions is None else questions,
        topics=FALLBACK_TOPICS if topics is None else topics,
    )


@dataclass(frozen=True)
class Activity:
    title: str
    reason: str


FALLBACK_ACTIVITY_LINES = (
    "Share your favourite song — Music is an easy way to get to know each other.",
    "Plan a virtual coffee chat — A relaxed talk helps you connect.",
    "Swap book recommendations — Books reveal what matters to you.",
    "Cook the same recipe — Doing something together builds closeness.",
    "Take a short walk and share a photo — Small moments make good conversation.",
    "Play a quick word game — Playing together is a light way to bond.",
    "Talk about a favourite movie — Stories you love say a lot about you.",
    "Set a small weekly goal together — Encouragement strengthens friendship.",
    "Share a childhood memory — Memories build trust.",
    "Plan a dream trip — Dreaming together is fun.",
)


def _split(line: str) -> Activity:
    title, reason = line.split(" — ", 1)
    return Activity(title=title, reason=reason)


FALLBACK_ACTIVITIES: tuple[Activity, ...] = tuple(_split(line) for line in FALLBACK_ACTIVITY_LINES)


def normalise_activities(value: object, limit: int) -> tuple[Activity, ...]:
    """Keep items with a non-empty string title and a string reason; none valid is a failure."""
    if not isinstance(value, list):
        raise InvalidAnswer("activities must be a list")
    valid = [
        Activity(title=item["title"], reason=item["reason"])
        for item in value
        if isinstance(item, dict)
        and isinstance(item.get("title"), str)
        and item["title"]
        and isinstance(item.get("reason"), str)
    ]
    if not valid:
        raise InvalidAnswer("no valid activity in the answer")
    return tuple(valid[:limit])


def top_topics(mentions_by_topic: dict[str, int], limit: int = 5) -> list[str]:
    """Topic names by mentions desc, then name (the LLM's context for activities/summary)."""
    ordered = sorted(mentions_by_topic.items(), key=lambda item: (-item[1], item[0]))
    return [topic for topic, _ in ordered[:limit]]
