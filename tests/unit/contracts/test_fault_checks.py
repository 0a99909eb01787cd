"""The checks under faults on synthetic replays: honest fallbacks pass, dishonest ones fail."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from contracts.fallbacks import CONVERSATION_FAULTS
from contracts.fault_checks import check_under_faults
from contracts.replay import Replay
from contracts.spec_model import SpecModel, level
from contracts.traffic import END_PATH, Request

pytestmark = pytest.mark.unit
EMOTION_500 = CONVERSATION_FAULTS[0]


def conv(cid: str, user: str, ended: str, faults: dict[str, Any] | None = None) -> Request:
    body = {
        "conversation_id": cid,
        "user_id": user,
        "agent_id": "a1",
        "started_at": ended,
        "ended_at": ended,
        "messages": [{"role": "user", "content": "I love this song? my family", "ts": ended}],
    }
    return Request("POST", END_PATH, body, faults if faults is not None else {})


REQUESTS = [
    conv("c1", "u1", "2025-03-01T10:00:00+00:00", EMOTION_500),
    conv("c2", "u1", "2025-03-01T12:00:00+00:00"),
    conv("c3", "u2", "2025-03-01T12:00:00+00:00"),
]


def replay(degraded: dict[int, list[str]]) -> Replay:
    """What a service that follows docs/scoring.md answers and stores, with these fallbacks."""
    model, answers, processed = SpecModel(), [], []
    for i, r in enumerate(REQUESTS):
        body = model.end(r.body or {}, degraded.get(i, []))
        answers.append({"status": 200, "body": dict(body)})
        processed.append(
            {
                "conversation_id": body["conversation_id"],
                "degraded": body["degraded"],
                "response": body,
            }
        )
    friendships = [
        {
            "user_id": u,
            "agent_id": a,
            "score": f.score,
            "level": level(f.score),
            "last_interaction_at": f.last.isoformat() if f.last else None,
            "last_decay_date": None,
            "summary": None,
            "summary_updated_at": None,
        }
        for (u, a), f in sorted(model.friends.items())
    ]
    topics = [
        {
            "user_id": u,
            "agent_id": a,
            "topic": t,
            "mentions": m.mentions,
            "positive": m.positive,
            "negative": m.negative,
            "last_seen": m.last_seen.isoformat() if m.last_seen else None,
        }
        for (u, a), f in sorted(model.friends.items())
        for t, m in sorted(f.topics.items())
    ]
    state = {
        "friendships": friendships,
        "topic_metrics": topics,
        "processed_conversations": processed,
    }
    return Replay(answers, state)


def texts(findings) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(p.text for p in findings.problems)


def test_honest_fallbacks_pass_and_are_counted() -> None:
    clean, faulty = replay({}), replay({0: ["emotion"]})
    findings = check_under_faults(REQUESTS, clean, faulty, copy.deepcopy(faulty))
    assert not findings.problems, texts(findings)
    c = findings.counts
    assert c["refactored.honest_checked_degraded"] == 1
    assert c["legacy_vs_refactored.compared_degraded"] == 1
    assert c["refactored.faulted_conversations"] == 1
    # u1 diverged from fault-free at c1 (its fallback); u2 is still compared
    assert c["refactored_vs_clean.tainted_friendships"] == 1
    assert c["refactored_vs_clean.conversations_compared"] == 1


def test_a_fallback_scored_with_the_real_emotion_is_dishonest() -> None:
    clean, legacy = replay({}), replay({0: ["emotion"]})
    refactored = copy.deepcopy(clean)  # scored as if the LLM answered ...
    refactored.answers[0]["body"]["degraded"] = ["emotion"]  # ... but claims a fallback
    text = texts(check_under_faults(REQUESTS, clean, legacy, refactored))
    assert "refactored: #0" in text
    assert "answer differs from the scoring rules with fallbacks" in text
    assert "emotion: 'positive' != 'neutral'" in text


def test_a_silent_fallback_is_caught() -> None:
    clean, legacy = replay({}), replay({0: ["emotion"]})
    refactored = replay({0: ["emotion"]})
    for answer in refactored.answers[:2]:  # the fallback's score, but `degraded` says nothing
        answer["body"]["degraded"] = []
    text = texts(check_under_faults(REQUESTS, clean, legacy, refactored))
    assert "does not name ['emotion']" in text  # the fault must show
    assert "refactored_vs_clean: #0" in text  # a score that differs without `degraded`


def test_a_difference_in_an_untainted_friendship_is_reported_with_the_field() -> None:
    clean, faulty = replay({}), replay({0: ["emotion"]})
    refactored = copy.deepcopy(faulty)
    refactored.answers[2]["body"]["friendship_score"] += 1
    refactored.state["friendships"][1]["score"] += 1
    text = texts(check_under_faults(REQUESTS, clean, faulty, refactored))
    assert "legacy_vs_refactored: #2" in text and "friendship_score" in text
    assert "legacy_vs_refactored: DB final: friendships[u2, a1].score" in text
