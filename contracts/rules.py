"""The rule-level comparison: one input, both versions, a readable difference or None."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import adapters
from contracts.adapters import DecayCase, ScoringCase


def score_mismatch(case: ScoringCase) -> list[str]:
    return adapters.field_diff(adapters.legacy_score(case), adapters.refactored_score(case))


def decay_mismatch(case: DecayCase) -> list[str]:
    return adapters.field_diff(adapters.legacy_decay(case), adapters.refactored_decay(case))


def first_mismatch(cases: list[Any], compare: Callable[[Any], list[str]]) -> Any | None:
    for case in cases:
        if compare(case):
            return case
    return None
