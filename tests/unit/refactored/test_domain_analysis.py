"""Normalisation of LLM answers and fallback values (docs/conventions.md §4)."""

from __future__ import annotations

import pytest

from refactored.domain.analysis import (
    FALLBACK_ACTIVITIES,
    InvalidAnswer,
    normalise_activities,
    normalise_emotion,
    normalise_questions,
    normalise_topics,
    top_topics,
)

pytestmark = pytest.mark.unit


def test_emotion_must_be_one_of_five() -> None:
    assert normalise_emotion("very_positive") == "very_positive"
    for bad in ("Positive", "", None, 3):
        with pytest.raises(InvalidAnswer):
            normalise_emotion(bad)


def test_questions_int_not_bool_not_negative() -> None:
    assert normalise_questions(0) == 0
    for bad in (True, -1, 1.0, "2", None):
        with pytest.raises(InvalidAnswer):
            normalise_questions(bad)


def test_topics_cleaned_deduplicated_sorted_first_five() -> None:
    raw = [" Music ", "food", "FOOD", "", "   ", "x" * 33, "y" * 32, 7, "b", "a", "c"]
    assert normalise_topics(raw) == ("a", "b", "c", "food", "music")
    assert normalise_topics(["y" * 32]) == ("y" * 32,)
    with pytest.raises(InvalidAnswer):
        normalise_topics("music")


def test_activities_drop_invalid_items_and_need_one() -> None:
    raw = [
        {"title": "", "reason": "r"},
        {"title": "T", "reason": 1},
        {"title": "A", "reason": ""},
        "x",
        {"title": "B", "reason": "why"},
    ]
    assert [a.title for a in normalise_activities(raw, 10)] == ["A", "B"]
    assert len(normalise_activities(raw, 1)) == 1
    with pytest.raises(InvalidAnswer):
        normalise_activities([{"title": ""}], 3)


def test_fallback_activities_are_the_ten_of_conventions() -> None:
    assert len(FALLBACK_ACTIVITIES) == 10
    assert FALLBACK_ACTIVITIES[0].title == "Share your favourite song"
    assert FALLBACK_ACTIVITIES[9].reason == "Dreaming together is fun."


def test_top_topics_by_mentions_then_name() -> None:
    assert top_topics({"b": 2, "a": 2, "c": 5, "d": 1, "e": 1, "f": 1}) == ["c", "a", "b", "d", "e"]
