"""One input, two versions: convert a contract case into legacy's dicts and the refactored domain.

Every comparison goes through this module so the two versions see exactly the same
input, and their outputs come back in one comparable shape (plain dicts of ints,
strings and datetimes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from legacy.services import friendship_service as legacy_rules
from refactored.domain import scoring as refactored_rules
from refactored.domain.model import Analysis, FriendshipState, TopicMetric


@dataclass(frozen=True)
class PriorTopic:
    mentions: int
    positive: int
    negative: int
    last_seen: datetime


@dataclass(frozen=True)
class Prior:
    """A stored friendship before the conversation (``None`` in a case = a new one)."""

    score: int
    last_interaction_at: datetime | None
    topic_metrics: dict[str, PriorTopic] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoringCase:
    prior: Prior | None
    emotion: str
    user_questions: int
    topics: tuple[str, ...]
    user_message_count: int
    ended_at: datetime


@dataclass(frozen=True)
class DecayCase:
    score: int
    last_interaction_at: datetime | None
    last_decay_date: date | None
    now: datetime


# ---- scoring --------------------------------------------------------------------------


def _legacy_prior(prior: Prior | None) -> dict[str, Any] | None:
    if prior is None:
        return None
    return {
        "score": prior.score,
        "last_interaction_at": prior.last_interaction_at,
        "topic_metrics": {
            t: {
                "mentions": m.mentions,
                "positive": m.positive,
                "negative": m.negative,
                "last_seen": m.last_seen,
            }
            for t, m in prior.topic_metrics.items()
        },
    }


def _refactored_prior(prior: Prior | None) -> FriendshipState:
    if prior is None:
        return FriendshipState(score=0, topic_metrics={}, last_interaction_at=None)
    return FriendshipState(
        score=prior.score,
        last_interaction_at=prior.last_interaction_at,
        topic_metrics={
            t: TopicMetric(t, m.mentions, m.positive, m.negative, m.last_seen)
            for t, m in prior.topic_metrics.items()
        },
    )


def legacy_score(case: ScoringCase) -> dict[str, Any]:
    out = legacy_rules.compute_score_update(
        _legacy_prior(case.prior),
        {
            "emotion": case.emotion,
            "user_questions": case.user_questions,
            "topics": list(case.topics),
        },
        case.user_message_count,
        case.ended_at,
    )
    return {
        "score_delta": out["score_delta"],
        "score": out["friendship_score"],
        "level": out["friendship_level"],
        "topic_metrics": {
            t: {
                "mentions": m["mentions"],
                "positive": m["positive"],
                "negative": m["negative"],
                "last_seen": m["last_seen"],
            }
            for t, m in out["topic_metrics"].items()
        },
        "last_interaction_at": out["last_interaction_at"],
    }


def refactored_score(case: ScoringCase) -> dict[str, Any]:
    out = refactored_rules.score_conversation(
        _refactored_prior(case.prior),
        Analysis(case.emotion, case.user_questions, tuple(case.topics)),
        case.user_message_count,
        case.ended_at,
    )
    return {
        "score_delta": out.score_delta,
        "score": out.score,
        "level": out.level,
        "topic_metrics": {
            t: {
                "mentions": m.mentions,
                "positive": m.positive,
                "negative": m.negative,
                "last_seen": m.last_seen,
            }
            for t, m in out.topic_metrics.items()
        },
        "last_interaction_at": out.last_interaction_at,
    }


# ---- nightly decay --------------------------------------------------------------------


def legacy_decay(case: DecayCase) -> dict[str, Any]:
    out = legacy_rules.compute_decay(
        {
            "score": case.score,
            "last_interaction_at": case.last_interaction_at,
            "last_decay_date": case.last_decay_date,
        },
        case.now,
    )
    return {
        "due": out["decay_due"],
        "score": out["score"],
        "level": out["level"],
        "last_decay_date": out["last_decay_date"],
    }


def refactored_decay(case: DecayCase) -> dict[str, Any]:
    due = refactored_rules.is_due_for_decay(
        case.last_interaction_at, case.last_decay_date, case.now
    )
    if not due:
        return {
            "due": False,
            "score": case.score,
            "level": refactored_rules.level_for_score(case.score),
            "last_decay_date": case.last_decay_date,
        }
    out = refactored_rules.decay_friendship(case.score, case.now)
    return {"due": True, "score": out.score, "level": out.level, "last_decay_date": out.decay_date}


def field_diff(left: dict[str, Any], right: dict[str, Any], path: str = "") -> list[str]:
    """Field-by-field differences, one readable line each (nested dicts recurse)."""
    lines: list[str] = []
    for key in sorted(set(left) | set(right), key=str):
        where = f"{path}.{key}" if path else str(key)
        if key not in left:
            lines.append(f"{where}: missing in legacy, refactored={right[key]!r}")
        elif key not in right:
            lines.append(f"{where}: legacy={left[key]!r}, missing in refactored")
        elif isinstance(left[key], dict) and isinstance(right[key], dict):
            lines.extend(field_diff(left[key], right[key], where))
        elif left[key] != right[key]:
            lines.append(f"{where}: legacy={left[key]!r} refactored={right[key]!r}")
    return lines
