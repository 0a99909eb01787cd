"""Rules level: legacy's scoring functions and the refactored domain agree on every input."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from contracts.adapters import DecayCase, ScoringCase, refactored_decay, refactored_score
from contracts.boundaries import DECAY_BOUNDARIES, SCORING_BOUNDARIES
from contracts.profiles import rules_settings
from contracts.report import RUN
from contracts.rules import decay_mismatch, score_mismatch
from contracts.strategies import decay_cases, scoring_cases

pytestmark = pytest.mark.contracts


def _check(name: str, case: object, diff: list[str]) -> None:
    RUN.count_example(name)
    if diff:
        RUN.add_mismatch(name, repr(case), diff)
        raise AssertionError(
            f"legacy and refactored differ on\n  {case!r}\n" + "\n".join(f"  {d}" for d in diff)
        )


def _with_examples(test, cases):
    for case in cases:
        test = example(case)(test)
    return test


@rules_settings()
@given(case=scoring_cases())
def _score_contract(case: ScoringCase) -> None:
    _check("score", case, score_mismatch(case))


@rules_settings()
@given(case=decay_cases())
def _decay_contract(case: DecayCase) -> None:
    _check("decay", case, decay_mismatch(case))


test_score_contract = _with_examples(_score_contract, SCORING_BOUNDARIES)
test_decay_contract = _with_examples(_decay_contract, DECAY_BOUNDARIES)


def test_boundaries_reach_the_edges() -> None:
    """The explicit boundary cases really land on the edges they claim (else they prove nothing)."""
    scores = {refactored_score(c)["score"] for c in SCORING_BOUNDARIES}
    assert {99, 100, 299, 300, 599, 600, 849, 850, 0, 1000} <= scores
    deltas = {refactored_score(c)["score_delta"] for c in SCORING_BOUNDARIES}
    assert {-10, 30} <= deltas  # -10 is the lowest reachable sum
    decayed = [refactored_decay(c) for c in DECAY_BOUNDARIES]
    assert any(d["due"] for d in decayed) and any(not d["due"] for d in decayed)
