"""Teeth: change any single scoring constant in either version and the comparison finds it.

Named constants are monkeypatched in the module that holds them (legacy
``friendship_service``, refactored ``domain.scoring``). Rules whose numbers are
inline literals (question x2 / cap 5, engagement //3 / cap 8, topic x3 / cap 9,
refactored's +5 streak, decay //100 and its minimum of 1) are mutated by wrapping
the refactored rule function that holds them: the comparison is symmetric, so a
mutant on either side is caught the same way. MIN_DELTA (-20) is the one constant
no input can reach (the lowest sum of points is -10), so changing it within
[-20, -11] is undetectable by design; the test asserts exactly that.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample

from contracts.boundaries import DECAY_BOUNDARIES, SCORING_BOUNDARIES
from contracts.rules import decay_mismatch, first_mismatch, score_mismatch
from contracts.strategies import decay_cases, scoring_cases
from legacy.services import friendship_service as legacy_rules
from refactored.domain import scoring as refactored_rules
from refactored.domain.model import DecayOutcome

pytestmark = pytest.mark.contracts

SEARCH = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _fails(compare: Callable[[Any], object]) -> Callable[[Any], bool]:
    """The predicate ``find`` searches with: this case shows a mismatch."""
    return lambda case: bool(compare(case))


def _counterexample_found() -> bool:
    """Boundary cases first (deterministic, instant), then a Hypothesis search."""
    if first_mismatch(SCORING_BOUNDARIES, score_mismatch) is not None:
        return True
    if first_mismatch(DECAY_BOUNDARIES, decay_mismatch) is not None:
        return True
    for strategy, compare in ((scoring_cases(), score_mismatch), (decay_cases(), decay_mismatch)):
        try:
            find(strategy, _fails(compare), settings=SEARCH)
            return True
        except NoSuchExample:
            pass
    return False


def _bump_points(table: dict[str, int], key: str) -> dict[str, int]:
    return table | {key: table[key] + 1}


def _bump_level(levels: tuple[tuple[int, Any], ...], index: int) -> tuple[tuple[int, Any], ...]:
    return tuple((b + 1 if i == index else b, name) for i, (b, name) in enumerate(levels))


EMOTIONS = ("very_negative", "negative", "neutral", "positive", "very_positive")
# (module, attribute, perturbed value)
CONSTANTS: list[tuple[Any, str, Any]] = []
for module, levels_attr in ((legacy_rules, "LEVELS"), (refactored_rules, "LEVEL_THRESHOLDS")):
    CONSTANTS += [
        (module, "EMOTION_POINTS", _bump_points(module.EMOTION_POINTS, e)) for e in EMOTIONS
    ]
    CONSTANTS += [
        (module, levels_attr, _bump_level(getattr(module, levels_attr), i)) for i in range(4)
    ]  # the 0 bound of stranger is also the score clamp
    CONSTANTS += [
        (module, "MIN_SCORE", 1),
        (module, "MAX_SCORE", 999),
        (module, "MAX_DELTA", 29),
        (module, "STREAK_WINDOW", timedelta(hours=36) - timedelta(seconds=1)),
    ]
CONSTANTS += [
    (legacy_rules, "STREAK_POINTS", 6),
    (legacy_rules, "DECAY_AFTER", timedelta(hours=72) + timedelta(seconds=1)),
    (refactored_rules, "INACTIVITY_BEFORE_DECAY", timedelta(hours=72) + timedelta(seconds=1)),
]


@pytest.mark.parametrize(
    ("module", "name", "value"),
    CONSTANTS,
    ids=[f"{m.__name__.split('.')[0]}.{n}-{i}" for i, (m, n, _) in enumerate(CONSTANTS)],
)
def test_changing_a_constant_is_caught(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, value: Any
) -> None:
    monkeypatch.setattr(module, name, value)
    assert _counterexample_found(), f"{module.__name__}.{name}={value!r} went unnoticed"


def test_unpatched_versions_agree_on_every_boundary() -> None:
    """Without it the tests below could pass on a difference that is already there."""
    assert first_mismatch(SCORING_BOUNDARIES, score_mismatch) is None
    assert first_mismatch(DECAY_BOUNDARIES, decay_mismatch) is None


@pytest.mark.parametrize("module", [legacy_rules, refactored_rules], ids=["legacy", "refactored"])
def test_min_delta_is_unreachable(monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    monkeypatch.setattr(module, "MIN_DELTA", -11)
    assert first_mismatch(SCORING_BOUNDARIES, score_mismatch) is None


def _delta_mutant(extra: Callable[[Any, Any, int], int]) -> Callable[..., int]:
    """refactored's score_delta with one rule's points changed (re-clamped as the rule does)."""
    original = refactored_rules.score_delta

    def mutant(prior: Any, analysis: Any, user_message_count: int, ended_at: Any) -> int:
        # undo the clamp by recomputing: the clamp is applied once more after the change
        delta = original(prior, analysis, user_message_count, ended_at)
        return max(-20, min(30, delta + extra(prior, analysis, user_message_count)))

    return mutant


def _streak(prior: Any, ended_at: Any) -> bool:
    last = prior.last_interaction_at
    return last is not None and timedelta(0) < ended_at - last <= timedelta(hours=36)


LITERAL_MUTANTS: dict[str, Callable[[Any, Any, int], int]] = {
    "question points x3": lambda p, a, u: min(a.user_questions, 5),
    "question cap 6": lambda p, a, u: 2 * (min(a.user_questions, 6) - min(a.user_questions, 5)),
    "engagement //4": lambda p, a, u: min(u // 4, 8) - min(u // 3, 8),
    "engagement cap 9": lambda p, a, u: min(u // 3, 9) - min(u // 3, 8),
    "topic points x4": lambda p, a, u: (
        min(4 * len([t for t in a.topics if t not in p.topic_metrics]), 9)
        - min(3 * len([t for t in a.topics if t not in p.topic_metrics]), 9)
    ),
    "topic cap 10": lambda p, a, u: (
        min(3 * len([t for t in a.topics if t not in p.topic_metrics]), 10)
        - min(3 * len([t for t in a.topics if t not in p.topic_metrics]), 9)
    ),
}


@pytest.mark.parametrize("rule", sorted(LITERAL_MUTANTS))
def test_changing_an_inline_scoring_literal_is_caught(
    monkeypatch: pytest.MonkeyPatch, rule: str
) -> None:
    monkeypatch.setattr(refactored_rules, "score_delta", _delta_mutant(LITERAL_MUTANTS[rule]))
    assert _counterexample_found(), f"{rule} went unnoticed"


def test_changing_the_streak_points_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = refactored_rules.score_delta

    def mutant(prior: Any, analysis: Any, user_message_count: int, ended_at: Any) -> int:
        delta = original(prior, analysis, user_message_count, ended_at)
        return min(30, delta + 1) if _streak(prior, ended_at) else delta  # +6 instead of +5

    monkeypatch.setattr(refactored_rules, "score_delta", mutant)
    assert _counterexample_found()


@pytest.mark.parametrize(
    ("rule", "loss"),
    [("decay //99", lambda s: max(1, s // 99)), ("decay minimum 2", lambda s: max(2, s // 100))],
)
def test_changing_the_decay_literals_is_caught(
    monkeypatch: pytest.MonkeyPatch, rule: str, loss: Callable[[int], int]
) -> None:
    def mutant(score: int, now: Any) -> DecayOutcome:
        new = score - loss(score) if score > 0 else score
        new = max(0, new)
        return DecayOutcome(new, refactored_rules.level_for_score(new), now.date())

    monkeypatch.setattr(refactored_rules, "decay_friendship", mutant)
    assert _counterexample_found(), f"{rule} went unnoticed"
