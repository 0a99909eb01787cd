"""The known difference idempotency_per_owner on synthetic replays: generated traffic never
triggers it, the appended traffic does, and the check accepts exactly the named difference."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from contracts.noise import KNOWN_DIFFERENCES
from contracts.owner_reuse import check_owner_reuse, owner_reuses, reuse_across_owners
from contracts.profiles import PROFILES
from contracts.replay import Replay, State
from contracts.spec_model import SpecModel
from contracts.traffic import END_PATH, Request, generate

pytestmark = pytest.mark.unit
ENDED = "2025-03-01T10:00:00+00:00"


def conv(cid: str, user: str, agent: str) -> Request:
    body = {
        "conversation_id": cid,
        "user_id": user,
        "agent_id": agent,
        "started_at": ENDED,
        "ended_at": ENDED,
        "messages": [{"role": "user", "content": "I love this song? my family", "ts": ENDED}],
    }
    return Request("POST", END_PATH, body)


BASE = [conv("c1", "u1", "a1"), conv("c2", "u2", "a2")]


def replay(requests: list[Request], start: int, global_key: bool) -> Replay:
    """What a service answers and stores; ``global_key``: idempotency on the id alone."""
    model = SpecModel()
    answers: list[dict[str, Any]] = []
    first: dict[str, dict[str, Any]] = {}
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    before: State = {}
    for i, req in enumerate(requests):
        if i == start:
            before = _state(model, rows)
        if req.path == END_PATH and req.body is not None:
            b = req.body
            if global_key and b["conversation_id"] in first:
                answers.append({"status": 200, "body": first[b["conversation_id"]]})
                continue
            body = model.end(b, [])
            first.setdefault(b["conversation_id"], body)
            rows[(b["conversation_id"], b["user_id"], b["agent_id"])] = body
            answers.append({"status": 200, "body": body})
        else:
            user, agent = req.path.strip("/").split("/")[2:4]
            friend = model.friends.get((user, agent))
            answers.append(
                {"status": 200, "body": {"friendship_score": friend.score}}
                if friend
                else {"status": 404, "body": {"detail": "friendship not found"}}
            )
    return Replay(answers, _state(model, rows), {start: before})


def _state(model: SpecModel, rows: dict[tuple[str, str, str], dict[str, Any]]) -> State:
    return {
        "friendships": [
            {"user_id": u, "agent_id": a, "score": f.score} for (u, a), f in model.friends.items()
        ],
        "topic_metrics": [],
        "processed_conversations": [
            {"conversation_id": c, "user_id": u, "agent_id": a, "response": r}
            for (c, u, a), r in rows.items()
        ],
    }


def test_generated_traffic_never_reuses_an_id_across_owners() -> None:
    for profile in PROFILES.values():
        for seed in range(profile.sequences):
            assert not owner_reuses(generate(seed, profile.requests_per_sequence)), seed


def test_the_appended_traffic_reuses_ids_by_another_user_and_another_agent() -> None:
    requests = reuse_across_owners(generate(0, 40))
    appended = requests[40:]
    reuses = owner_reuses(requests)
    assert sorted(reuses) == [i for i, r in enumerate(requests) if i >= 40 and r.body]
    assert len(reuses) == 8 and all(first < 40 for first in reuses.values())
    firsts = [requests[f].body or {} for f in reuses.values()]
    again = [r.body for r in appended if r.body]
    assert any(a["user_id"] != f["user_id"] for a, f in zip(again, firsts, strict=True))
    assert any(a["agent_id"] != f["agent_id"] for a, f in zip(again, firsts, strict=True))
    assert appended[-1].method == "GET", "the reusing owners are read at the end"
    assert "idempotency_per_owner" in KNOWN_DIFFERENCES


def test_legacy_global_key_and_refactored_per_owner_are_exactly_the_named_difference() -> None:
    requests = reuse_across_owners(BASE, count=2)
    legacy, refactored = replay(requests, 2, True), replay(requests, 2, False)
    problems, counts = check_owner_reuse(requests, 2, legacy, refactored)
    assert problems == []
    assert counts == {"reuses": 2, "replays": 2, "reads": 1, "prefix_requests": 2}


def test_refactored_with_a_global_key_is_reported() -> None:
    requests = reuse_across_owners(BASE, count=2)
    legacy = replay(requests, 2, True)
    problems, _ = check_owner_reuse(requests, 2, legacy, copy.deepcopy(legacy))
    assert any("refactored: " in p and "not the owner's own result" in p for p in problems)
    assert any("stored no row for its owner" in p for p in problems)


def test_legacy_scoring_the_second_owner_is_reported() -> None:
    requests = reuse_across_owners(BASE, count=2)
    refactored = replay(requests, 2, False)
    problems, _ = check_owner_reuse(requests, 2, copy.deepcopy(refactored), refactored)
    assert any("legacy: " in p and "first owner's answer" in p for p in problems)
    assert any(p.startswith("legacy wrote something") for p in problems)


def test_a_difference_before_the_reuses_is_reported() -> None:
    requests = reuse_across_owners(BASE, count=2)
    legacy, refactored = replay(requests, 2, True), replay(requests, 2, False)
    refactored.answers[0] = {"status": 200, "body": {"friendship_score": 999}}
    problems, _ = check_owner_reuse(requests, 2, legacy, refactored)
    assert problems[0].startswith("before the reuses: request #0")
