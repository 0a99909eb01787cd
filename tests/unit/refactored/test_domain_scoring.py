"""Every scoring rule and boundary of docs/scoring.md, on the pure domain functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from refactored.domain.model import Analysis, FriendshipState, TopicMetric
from refactored.domain.scoring import (
    decay_friendship,
    is_due_for_decay,
    level_for_score,
    score_conversation,
)

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 1, 10, tzinfo=UTC)
NEUTRAL = Analysis("neutral", 0, ())


def delta(
    analysis: Analysis = NEUTRAL,
    users: int = 0,
    prior: FriendshipState | None = None,
    ended_at: datetime = T0,
) -> int:
    return score_conversation(prior or FriendshipState(), analysis, users, ended_at).score_delta


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, "stranger"),
        (99, "stranger"),
        (100, "acquaintance"),
        (299, "acquaintance"),
        (300, "friend"),
        (599, "friend"),
        (600, "close_friend"),
        (849, "close_friend"),
        (850, "best_friend"),
        (1000, "best_friend"),
    ],
)
def test_levels_by_score(score: int, level: str) -> None:
    assert level_for_score(score) == level


@pytest.mark.parametrize(
    ("emotion", "points"),
    [
        ("very_negative", -10),
        ("negative", -5),
        ("neutral", 0),
        ("positive", 5),
        ("very_positive", 10),
    ],
)
def test_emotion_points(emotion: str, points: int) -> None:
    assert delta(Analysis(emotion, 0, ())) == points


@pytest.mark.parametrize(("questions", "points"), [(0, 0), (1, 2), (5, 10), (6, 10), (50, 10)])
def test_question_points_capped_at_five(questions: int, points: int) -> None:
    assert delta(Analysis("neutral", questions, ())) == points


@pytest.mark.parametrize(("users", "points"), [(0, 0), (2, 0), (3, 1), (8, 2), (24, 8), (99, 8)])
def test_engagement_points(users: int, points: int) -> None:
    assert delta(users=users) == points


def test_topic_points_count_only_new_topics_capped_at_nine() -> None:
    assert delta(Analysis("neutral", 0, ("a",))) == 3
    assert delta(Analysis("neutral", 0, ("a", "b", "c", "d"))) == 9
    known = FriendshipState(topic_metrics={"a": TopicMetric("a", 1, 0, 0, T0)})
    assert delta(Analysis("neutral", 0, ("a", "b")), prior=known) == 3


@pytest.mark.parametrize(
    ("gap", "points"),
    [
        (timedelta(0), 0),
        (timedelta(seconds=1), 5),
        (timedelta(hours=36), 5),
        (timedelta(hours=36, seconds=1), 0),
        (-timedelta(hours=1), 0),
    ],
)
def test_streak_window(gap: timedelta, points: int) -> None:
    prior = FriendshipState(last_interaction_at=T0 - gap)
    assert delta(prior=prior) == points


def test_no_streak_without_previous_interaction() -> None:
    assert delta(prior=FriendshipState()) == 0


def test_delta_clamped_to_minus_20_plus_30() -> None:
    best = Analysis("very_positive", 9, ("a", "b", "c"))
    assert (
        delta(best, users=30, prior=FriendshipState(last_interaction_at=T0 - timedelta(hours=1)))
        == 30
    )
    worst = Analysis("very_negative", 0, ())
    assert delta(worst) == -10  # -10 is inside the clamp; the clamp itself:
    # the sum can't go below -10 with these rules, so -20 is a safety bound
    assert score_conversation(FriendshipState(score=5), worst, 0, T0).score == 0


def test_score_clamped_to_0_1000_and_level_follows() -> None:
    high = score_conversation(FriendshipState(score=995), Analysis("very_positive", 0, ()), 0, T0)
    assert (high.score, high.level, high.score_delta) == (1000, "best_friend", 10)
    low = score_conversation(FriendshipState(score=3), Analysis("negative", 0, ()), 0, T0)
    assert (low.score, low.level, low.score_delta) == (0, "stranger", -5)


def test_topic_metrics_update_and_last_interaction_is_max() -> None:
    prior = FriendshipState(
        score=10,
        topic_metrics={"food": TopicMetric("food", 2, 1, 1, T0 - timedelta(days=3))},
        last_interaction_at=T0 + timedelta(days=1),
    )
    outcome = score_conversation(prior, Analysis("negative", 0, ("food", "music")), 3, T0)
    assert outcome.topic_metrics["food"] == TopicMetric("food", 3, 1, 2, T0)
    assert outcome.topic_metrics["music"] == TopicMetric("music", 1, 0, 1, T0)
    assert outcome.last_interaction_at == T0 + timedelta(days=1)
    neutral = score_conversation(FriendshipState(), Analysis("neutral", 0, ("x",)), 0, T0)
    assert neutral.topic_metrics["x"] == TopicMetric("x", 1, 0, 0, T0)
    assert neutral.last_interaction_at == T0


@pytest.mark.parametrize(
    ("score", "after"), [(0, 0), (1, 0), (99, 98), (100, 99), (250, 248), (1000, 990)]
)
def test_decay_loses_one_percent_at_least_one(score: int, after: int) -> None:
    now = datetime(2025, 1, 5, 3, tzinfo=UTC)
    outcome = decay_friendship(score, now)
    assert (outcome.score, outcome.level, outcome.decay_date) == (
        after,
        level_for_score(after),
        date(2025, 1, 5),
    )


def test_decay_due_after_72h_once_per_day() -> None:
    now = datetime(2025, 1, 5, 3, tzinfo=UTC)
    assert is_due_for_decay(now - timedelta(hours=72), None, now)
    assert not is_due_for_decay(now - timedelta(hours=71, minutes=59), None, now)
    assert not is_due_for_decay(now - timedelta(days=9), date(2025, 1, 5), now)
    assert is_due_for_decay(now - timedelta(days=9), date(2025, 1, 4), now)
    assert not is_due_for_decay(None, None, now)
