"""Every rule and boundary of docs/scoring.md on legacy's own scoring functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from legacy.services.friendship_service import (
    compute_decay,
    compute_score_update,
    level_for_score,
    summary_due,
)

pytestmark = pytest.mark.unit

ENDED = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def analysis(emotion: str = "neutral", questions: int = 0, topics: list[str] | None = None):
    return {"emotion": emotion, "user_questions": questions, "topics": topics or []}


def prior(score: int = 0, last: datetime | None = None, topics: tuple[str, ...] = ()):
    return {
        "score": score,
        "last_interaction_at": last,
        "topic_metrics": {
            t: {"mentions": 2, "positive": 1, "negative": 0, "last_seen": ENDED} for t in topics
        },
    }


def delta_of(**kwargs) -> int:
    p = kwargs.pop("prior", None)
    users = kwargs.pop("users", 0)
    return compute_score_update(p, analysis(**kwargs), users, ENDED)["score_delta"]


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
def test_level_boundaries(score: int, level: str) -> None:
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
    assert delta_of(prior=prior(score=500), emotion=emotion) == points


@pytest.mark.parametrize(("questions", "points"), [(0, 0), (1, 2), (5, 10), (6, 10), (50, 10)])
def test_question_points_capped_at_five_questions(questions: int, points: int) -> None:
    assert delta_of(questions=questions) == points


@pytest.mark.parametrize(("users", "points"), [(0, 0), (2, 0), (3, 1), (23, 7), (24, 8), (500, 8)])
def test_engagement_points_capped_at_eight(users: int, points: int) -> None:
    assert delta_of(users=users) == points


@pytest.mark.parametrize(
    ("known", "topics", "points"),
    [
        ((), ["a"], 3),
        ((), ["a", "b", "c"], 9),
        ((), ["a", "b", "c", "d"], 9),  # cap 9
        (("a",), ["a", "b"], 3),  # only new topics count
        (("a", "b"), ["a", "b"], 0),
    ],
)
def test_topic_points_new_topics_only_capped_at_nine(known, topics, points) -> None:
    assert delta_of(prior=prior(topics=known), topics=topics) == points


@pytest.mark.parametrize(
    ("gap", "points"),
    [
        (timedelta(0), 0),  # same instant: not a streak
        (timedelta(seconds=1), 5),
        (timedelta(hours=36), 5),  # boundary included
        (timedelta(hours=36, seconds=1), 0),
        (-timedelta(hours=1), 0),  # out-of-order conversation
    ],
)
def test_streak_window(gap: timedelta, points: int) -> None:
    assert delta_of(prior=prior(last=ENDED - gap)) == points


def test_no_streak_without_previous_interaction() -> None:
    assert delta_of(prior=prior(last=None)) == 0
    assert delta_of(prior=None) == 0


def test_delta_clamped_to_plus_thirty() -> None:
    # 10 + 10 + 8 + 9 + 5 = 42 -> 30
    d = delta_of(
        prior=prior(last=ENDED - timedelta(hours=1)),
        emotion="very_positive",
        questions=5,
        users=24,
        topics=["a", "b", "c"],
    )
    assert d == 30


def test_most_negative_delta_is_minus_ten_inside_the_minus_twenty_clamp() -> None:
    # No combination of the rules goes below -10, so the -20 clamp never bites.
    assert delta_of(prior=prior(score=500), emotion="very_negative") == -10


@pytest.mark.parametrize(
    ("start", "emotion", "score"),
    [
        (3, "very_negative", 0),
        (0, "negative", 0),
        (995, "very_positive", 1000),
        (1000, "positive", 1000),
    ],
)
def test_score_clamped_to_0_1000(start: int, emotion: str, score: int) -> None:
    result = compute_score_update(prior(score=start), analysis(emotion), 0, ENDED)
    assert result["friendship_score"] == score


def test_new_friendship_starts_at_zero_and_gets_a_level() -> None:
    result = compute_score_update(None, analysis("positive", 1, ["food"]), 3, ENDED)
    assert result["score_delta"] == 5 + 2 + 1 + 3
    assert result["friendship_score"] == 11
    assert result["friendship_level"] == "stranger"
    assert result["last_interaction_at"] == ENDED


def test_level_recomputed_after_crossing_boundary() -> None:
    result = compute_score_update(prior(score=95), analysis("positive"), 0, ENDED)
    assert (result["friendship_score"], result["friendship_level"]) == (100, "acquaintance")


def test_topic_metrics_counts_by_emotion() -> None:
    p = prior(topics=("food",))
    pos = compute_score_update(p, analysis("very_positive", topics=["food", "music"]), 0, ENDED)
    assert pos["topic_metrics"]["food"] == {
        "mentions": 3,
        "positive": 2,
        "negative": 0,
        "last_seen": ENDED,
    }
    assert pos["topic_metrics"]["music"] == {
        "mentions": 1,
        "positive": 1,
        "negative": 0,
        "last_seen": ENDED,
    }
    neg = compute_score_update(p, analysis("negative", topics=["food"]), 0, ENDED)
    assert neg["topic_metrics"]["food"]["negative"] == 1
    neutral = compute_score_update(p, analysis("neutral", topics=["food"]), 0, ENDED)
    assert neutral["topic_metrics"]["food"] == {
        "mentions": 3,
        "positive": 1,
        "negative": 0,
        "last_seen": ENDED,
    }
    assert p["topic_metrics"]["food"]["mentions"] == 2, "the prior must not be mutated"


def test_last_interaction_is_the_max() -> None:
    later = ENDED + timedelta(days=1)
    result = compute_score_update(prior(last=later), analysis(), 0, ENDED)
    assert result["last_interaction_at"] == later


NOW = datetime(2025, 1, 20, 3, 0, tzinfo=UTC)


def friendship(score: int, last: datetime | None, decayed: date | None = None):
    return {"score": score, "last_interaction_at": last, "last_decay_date": decayed}


@pytest.mark.parametrize(
    ("score", "after"), [(1000, 990), (850, 842), (199, 198), (100, 99), (99, 98), (1, 0), (0, 0)]
)
def test_decay_amount(score: int, after: int) -> None:
    result = compute_decay(friendship(score, NOW - timedelta(hours=72)), NOW)
    assert result["decay_due"] is True
    assert result["score"] == after
    assert result["level"] == level_for_score(after)
    assert result["last_decay_date"] == date(2025, 1, 20)


def test_decay_boundary_72_hours() -> None:
    assert compute_decay(friendship(500, NOW - timedelta(hours=72)), NOW)["decay_due"]
    not_yet = compute_decay(friendship(500, NOW - timedelta(hours=71, minutes=59)), NOW)
    assert not_yet == {"decay_due": False, "score": 500, "level": "friend", "last_decay_date": None}


def test_decay_once_per_utc_day() -> None:
    old = NOW - timedelta(days=10)
    assert not compute_decay(friendship(500, old, date(2025, 1, 20)), NOW)["decay_due"]
    assert compute_decay(friendship(500, old, date(2025, 1, 19)), NOW)["decay_due"]


def test_decay_level_drops_across_boundary() -> None:
    result = compute_decay(friendship(600, NOW - timedelta(days=5)), NOW)
    assert (result["score"], result["level"]) == (594, "friend")


def test_summary_due_last_24_hours() -> None:
    assert summary_due(friendship(0, NOW - timedelta(hours=24)), NOW)
    assert not summary_due(friendship(0, NOW - timedelta(hours=24, seconds=1)), NOW)
    assert not summary_due(friendship(0, None), NOW)
