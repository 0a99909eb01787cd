"""Legacy's HTTP API on a real PostgreSQL, dependencies faked in-process (respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from legacy.db import make_engine, make_session_factory, psycopg2_url
from legacy.schemas import ConversationEndRequest
from legacy.services.conversation_service import find_processed_response, save_conversation
from tests.integration.legacy.conftest import FakeDeps, conversation

pytestmark = pytest.mark.integration

EXPECTED = {
    "conversation_id": "c1",
    "user_id": "u1",
    "agent_id": "a1",
    # positive 5 + 1 question 2 + 3 user messages 1 + two new topics 6
    "friendship_score": 14,
    "friendship_level": "stranger",
    "score_delta": 14,
    "emotion": "positive",
    "user_questions": 1,
    "topics": ["food", "music"],
    "degraded": [],
}


def db_rows(database_url: str, sql: str) -> list[dict[str, Any]]:
    engine = create_engine(psycopg2_url(database_url))
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


async def test_end_conversation_scores_and_writes_everything(
    api: httpx.AsyncClient, fakes: FakeDeps, database_url: str
) -> None:
    response = await api.post("/v1/conversations/end", json=conversation())
    assert response.status_code == 200
    assert response.json() == EXPECTED
    assert list(response.json()) == list(EXPECTED), "key order is part of the byte contract"
    assert fakes.llm_tasks == ["emotion", "questions", "topics"]
    [processed] = db_rows(database_url, "SELECT * FROM processed_conversations")
    assert processed["analysis"] == {
        "emotion": "positive",
        "user_questions": 1,
        "topics": ["food", "music"],
        "user_message_count": 3,
    }
    assert processed["degraded"] == []
    assert processed["response"] == EXPECTED
    assert processed["score_delta"] == 14
    assert fakes.cards == [], "no fallback, no alert"

    friendship = await api.get("/v1/friendships/u1/a1")
    assert friendship.status_code == 200
    assert friendship.json() == {
        "user_id": "u1",
        "agent_id": "a1",
        "friendship_score": 14,
        "friendship_level": "stranger",
        "last_interaction_at": "2025-01-01T10:00:00+00:00",
        "last_decay_date": None,
        "summary": None,
        "topics": [
            {
                "topic": topic,
                "mentions": 1,
                "positive": 1,
                "negative": 0,
                "last_seen": "2025-01-01T10:00:00+00:00",
            }
            for topic in ("food", "music")
        ],
    }


async def test_replay_returns_stored_response_and_changes_nothing(
    api: httpx.AsyncClient, fakes: FakeDeps, database_url: str
) -> None:
    first = await api.post("/v1/conversations/end", json=conversation())
    fakes.answers["emotion"] = {"emotion": "very_negative"}
    changed = conversation(ended_at="2025-01-01T11:00:00Z", user_messages=9)
    replay = await api.post("/v1/conversations/end", json=changed)
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert len(fakes.llm_tasks) == 3, "a replay calls no dependency"
    [row] = db_rows(database_url, "SELECT score, last_interaction_at FROM friendships")
    assert row["score"] == 14
    assert db_rows(database_url, "SELECT sum(mentions) AS m FROM topic_metrics") == [{"m": 2}]


async def test_second_conversation_accumulates_with_streak(
    api: httpx.AsyncClient, fakes: FakeDeps
) -> None:
    await api.post("/v1/conversations/end", json=conversation())
    fakes.answers["topics"] = {"topics": ["food", "Travel"]}
    second = await api.post(
        "/v1/conversations/end",
        json=conversation("c2", ended_at="2025-01-02T22:00:00Z"),  # 36 h later: streak
    )
    # positive 5 + questions 2 + engagement 1 + one new topic 3 + streak 5
    assert second.json()["score_delta"] == 16
    assert second.json()["friendship_score"] == 30
    topics = {t["topic"]: t for t in (await api.get("/v1/friendships/u1/a1")).json()["topics"]}
    assert topics["food"]["mentions"] == 2
    assert topics["travel"]["last_seen"] == "2025-01-02T22:00:00+00:00"
    assert topics["music"]["last_seen"] == "2025-01-01T10:00:00+00:00"


async def test_fallbacks_are_named_and_alerted_once_per_request(
    api: httpx.AsyncClient, fakes: FakeDeps, database_url: str
) -> None:
    fakes.answers["emotion"] = httpx.Response(500)
    fakes.answers["topics"] = {"topics": "music"}
    fakes.memory_status = 503
    response = await api.post("/v1/conversations/end", json=conversation())
    body = response.json()
    assert (body["emotion"], body["user_questions"], body["topics"]) == ("neutral", 1, [])
    assert body["degraded"] == ["emotion", "topics", "memory"]
    assert body["score_delta"] == 3  # questions 2 + engagement 1
    [processed] = db_rows(database_url, "SELECT degraded FROM processed_conversations")
    assert processed["degraded"] == ["emotion", "topics", "memory"]
    assert fakes.card_titles() == ["[P2] LLM fallback used"]
    await api.post("/v1/conversations/end", json=conversation("c2"))
    assert len(fakes.cards) == 2, "legacy bug: one P2 card per request, not batched"


async def test_concurrent_duplicate_loses_and_returns_the_winner(
    api: httpx.AsyncClient, legacy_env: dict[str, str]
) -> None:

    engine = make_engine(legacy_env["DATABASE_URL"])
    sessions = make_session_factory(engine)
    body = ConversationEndRequest.model_validate(conversation()).model_dump()
    analysis = {"emotion": "positive", "user_questions": 1, "topics": ["food"]}
    try:
        with sessions() as loser, sessions() as winner:
            assert find_processed_response(loser, "c1") is None  # both passed the check
            won, written = save_conversation(winner, body, analysis, [])
            assert written
            other = {**analysis, "emotion": "very_negative"}
            lost, lost_written = save_conversation(loser, body, other, ["memory"])
            assert not lost_written
            assert lost == won
    finally:
        engine.dispose()
    friendship = (await api.get("/v1/friendships/u1/a1")).json()
    assert friendship["friendship_score"] == won["friendship_score"]
    assert friendship["topics"][0]["mentions"] == 1, "the loser wrote nothing"


async def test_friendship_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/friendships/nobody/a1")
    assert (response.status_code, response.json()) == (404, {"detail": "friendship not found"})


async def test_bad_input_is_422_naming_the_field(api: httpx.AsyncClient) -> None:
    bad_role = conversation()
    bad_role["messages"][0]["role"] = "bot"
    backwards = conversation(ended_at="2024-12-31T00:00:00Z")
    too_long = conversation()
    too_long["messages"][0]["content"] = "x" * 8001
    for body, loc in (
        (bad_role, ["body", "messages", 0, "role"]),
        (backwards, ["body"]),
        (too_long, ["body", "messages", 0, "content"]),
        ({**conversation(), "conversation_id": "x" * 65}, ["body", "conversation_id"]),
    ):
        response = await api.post("/v1/conversations/end", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc
    limit = await api.post(
        "/v1/activities/suggest", json={"user_id": "u", "agent_id": "a", "limit": 0}
    )
    assert (limit.status_code, limit.json()["detail"][0]["loc"]) == (422, ["body", "limit"])


async def test_activities_from_llm_with_friendship_context(
    api: httpx.AsyncClient, fakes: FakeDeps
) -> None:
    await api.post("/v1/conversations/end", json=conversation())
    response = await api.post(
        "/v1/activities/suggest", json={"user_id": "u1", "agent_id": "a1", "limit": 2}
    )
    assert response.json() == {
        "activities": [{"title": "Sing", "reason": "You like music."}],
        "source": "llm",
    }
    context = json.loads(fakes.llm_bodies[-1]["messages"][1]["content"])
    assert context == {
        "user_id": "u1",
        "agent_id": "a1",
        "friendship_level": "stranger",
        "friendship_score": 14,
        "topics": ["food", "music"],
        "limit": 2,
    }


async def test_activities_fallback_for_a_stranger(api: httpx.AsyncClient, fakes: FakeDeps) -> None:
    fakes.answers["activities"] = httpx.Response(503)
    response = await api.post(
        "/v1/activities/suggest", json={"user_id": "new", "agent_id": "a1", "limit": 2}
    )
    assert response.json() == {
        "activities": [
            {
                "title": "Share your favourite song",
                "reason": "Music is an easy way to get to know each other.",
            },
            {"title": "Plan a virtual coffee chat", "reason": "A relaxed talk helps you connect."},
        ],
        "source": "fallback",
    }
    assert fakes.card_titles() == ["[P2] LLM fallback used"]


async def test_ready_pings_the_database(api: httpx.AsyncClient) -> None:
    response = await api.get("/health/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready", "database": "ok"})
