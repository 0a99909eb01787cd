"""idempotency_per_owner's expectations on synthetic probe records: each owner's own
result (refactored) passes; another owner's stored answer (legacy's global key) fails."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.scenarios import registry
from chaos.scenarios.engine import build_result
from chaos.scenarios.idempotency_per_owner import OWNERS, outcomes
from chaos.scenarios.measurements import Measurements

from .helpers import context, measurements, samples

pytestmark = pytest.mark.unit

CLEAN_INTEGRITY = {
    "lost_updates": 0,
    "duplicated_updates": 0,
    "half_written": 0,
    "topic_mismatches": 0,
}


def answer(user: str, cid: str, score: int) -> dict[str, Any]:
    body = {
        "conversation_id": cid,
        "user_id": user,
        "friendship_score": score,
        "score_delta": score,
    }
    return {"status": 200, "body": body}


def owner_records(global_key: bool) -> list[dict[str, Any]]:
    """The probe's records; ``global_key``: the second owner of each id got the first's."""
    records: list[dict[str, Any]] = []
    first_of: dict[str, dict[str, Any]] = {}
    for n, (name, shared) in enumerate(OWNERS):
        user, cid = f"p-{name}", f"p-{shared}"
        first = answer(user, cid, 10 + n)
        taken = global_key and shared in first_of
        if taken:
            first = first_of[shared]
        first_of.setdefault(shared, first)
        friendship = (
            {"status": 404, "body": {"detail": "friendship not found"}}
            if taken
            else {"status": 200, "body": {"friendship_score": first["body"]["friendship_score"]}}
        )
        records.append(
            {
                "user": user,
                "conversation_id": cid,
                "first": first,
                "replay": first,
                "friendship": friendship,
                "stored_rows": 0 if taken else 1,
            }
        )
    return records


def probed(records: list[dict[str, Any]]) -> Measurements:
    m = measurements(samples(20, start_s=0, end_s=6.5))
    m.extra["owners"] = records
    m.extra["owner_outcomes"] = outcomes(records)
    m.integrity = dict(CLEAN_INTEGRITY)
    return m


def test_each_owner_answered_and_scored_as_its_own_passes() -> None:
    scenario = registry()["idempotency_per_owner"]
    ctx = context("refactored")
    m = probed(owner_records(global_key=False))
    result = build_result(scenario, ctx, m, scenario.evaluate(ctx, m), "x")
    assert result.verdict == "pass", [e.describe() for e in result.failed_expectations()]
    assert m.extra["owner_outcomes"] == {
        "owners": 4,
        "answered_200": 8,
        "answers": 8,
        "foreign_answers": 0,
        "not_scored_once": 0,
        "replays_not_own": 0,
        "friendships_not_own": 0,
    }


def test_a_global_key_is_legacys_expected_failure_with_exact_counts() -> None:
    scenario = registry()["idempotency_per_owner"]
    ctx = context("legacy")
    m = probed(owner_records(global_key=True))
    result = build_result(scenario, ctx, m, scenario.evaluate(ctx, m), "x")
    failed = {e.name: e.observed for e in result.failed_expectations()}
    # bob and dave: another owner's answer twice each, never stored, friendship 404
    assert failed == {
        "foreign_answers": 4,
        "owners_not_scored_once": 2,
        "replays_not_own_result": 2,
        "friendships_not_own": 2,
    }
    assert result.expected_to_fail and result.verdict == "expected_fail"


def test_a_replay_answering_a_fresh_score_is_not_the_owners_stored_result() -> None:
    records = owner_records(global_key=False)
    records[0]["replay"] = answer(records[0]["user"], records[0]["conversation_id"], 99)
    records[1]["stored_rows"] = 2  # scored twice
    counts = outcomes(records)
    assert (counts["replays_not_own"], counts["not_scored_once"]) == (1, 1)


def test_no_probe_makes_the_result_invalid() -> None:
    scenario = registry()["idempotency_per_owner"]
    ctx = context("refactored")
    m = probed([])
    result = build_result(scenario, ctx, m, scenario.evaluate(ctx, m), "x")
    assert result.verdict == "invalid"


def test_the_owners_collide_in_turn_and_in_a_race() -> None:
    shared = [s for _, s in OWNERS]
    assert shared.count("turn") == 2 and shared.count("race") == 2
