"""llm_malformed judged on synthetic runs: a batched alert passes, a card per request fails."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.scenarios import registry
from chaos.scenarios.engine import build_result
from chaos.scenarios.measurements import Measurements

from .helpers import context, measurements, samples

pytestmark = pytest.mark.unit

FALLBACK = ("emotion", "questions", "topics")


def _run(cards: list[dict[str, Any]], llm_calls_during: int) -> Measurements:
    load = samples(10, start_s=0, end_s=2) + samples(
        40, start_s=2, end_s=12, degraded=FALLBACK
    )  # fmt: skip
    m = measurements(load)
    m.cards = cards
    m.fake_series["llm"] = [
        (0.0, {"calls_total": 0, "calls_by_task": {t: 0 for t in FALLBACK}}),
        (
            12.0,
            {"calls_total": llm_calls_during, "calls_by_task": {"emotion": llm_calls_during}},
        ),
    ]
    return m


def _judge(target: str, m: Measurements) -> Any:
    scenario = registry()["llm_malformed"]
    ctx = context(target)
    return build_result(scenario, ctx, m, scenario.expectations(ctx, m), "x")


def test_one_summary_card_for_the_degraded_answers_passes() -> None:
    summary = [{"level": "P2", "title": "40 warnings in the last 6s"}]
    result = _judge("refactored", _run(summary, llm_calls_during=3 * 40))
    assert result.verdict == "pass", [e.describe() for e in result.failed_expectations()]


def test_a_card_per_degraded_conversation_is_legacys_expected_failure() -> None:
    storm = [{"level": "P2", "title": "LLM fallback used"}] * 40
    result = _judge("legacy", _run(storm, llm_calls_during=3 * 40))
    failed = {e.name for e in result.failed_expectations()}
    assert failed == {"p2_cards_per_degraded_answer"}
    assert result.verdict == "expected_fail"


def test_retrying_a_malformed_answer_fails_and_too_few_degraded_answers_prove_nothing() -> None:
    summary = [{"level": "P2", "title": "summary"}]
    retried = _judge("refactored", _run(summary, llm_calls_during=9 * 40))
    assert "llm_calls_per_end_during_fault" in {e.name for e in retried.failed_expectations()}
    m = measurements(samples(40, start_s=0, end_s=14))  # nothing degraded: fault did not bite
    m.cards = summary
    checks = {e.name: e for e in registry()["llm_malformed"].evaluate(context(), m)}
    assert checks["p2_cards_per_degraded_answer"].observed is None
