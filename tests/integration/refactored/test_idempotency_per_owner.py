"""Idempotency per owner on real PostgreSQL (issue 11): a conversation id is not global.

The key is (user_id, agent_id, conversation_id): the same key with a different body answers
the stored result; another owner's conversation with the same id is scored and stored as
its own, and never sees the first owner's answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.integration.refactored.test_endpoints import conversation

pytestmark = pytest.mark.integration

END = "/v1/conversations/end"
OTHER_BODY = [{"role": "user", "content": "a sad trip", "ts": "2025-01-01T09:30:00Z"}]


def stored_owners(database_url: str, cid: str) -> list[tuple[str, str, int]]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT user_id, agent_id, score_delta FROM processed_conversations "
                    "WHERE conversation_id = :cid ORDER BY user_id, agent_id"
                ),
                {"cid": cid},
            )
            return [(r.user_id, r.agent_id, r.score_delta) for r in rows]
    finally:
        engine.dispose()


async def test_another_owner_with_the_same_id_is_scored_as_its_own(
    app_client: Any, database_url: str, deps: Any
) -> None:
    async with app_client() as client:
        first = (await client.post(END, json=conversation("shared", "u1"))).json()
        calls = len(deps.calls)
        second = await client.post(END, json=conversation("shared", "u2", messages=OTHER_BODY))
        assert second.status_code == 200, second.text
        other_agent = await client.post(END, json=conversation("shared", "u1", agent_id="a2"))
        assert len(deps.calls) > calls, "the second owner's conversation was analysed"
        # each owner's replay, with a changed body, answers that owner's stored result
        replay_1 = await client.post(END, json=conversation("shared", "u1", messages=OTHER_BODY))
        replay_2 = await client.post(END, json=conversation("shared", "u2"))
        friendship_1 = (await client.get("/v1/friendships/u1/a1")).json()
        friendship_2 = (await client.get("/v1/friendships/u2/a1")).json()
    second_body = second.json()
    assert (second_body["user_id"], second_body["agent_id"]) == ("u2", "a1")
    assert second_body["conversation_id"] == "shared"
    assert second_body["emotion"] == "negative" and first["emotion"] == "positive"
    assert second_body != {**first, "user_id": "u2"}, "scored on its own body"
    assert other_agent.json()["agent_id"] == "a2"
    assert replay_1.json() == first
    assert replay_2.json() == second_body
    assert friendship_1["friendship_score"] == first["friendship_score"]
    assert friendship_2["friendship_score"] == second_body["friendship_score"]
    assert stored_owners(database_url, "shared") == [
        ("u1", "a1", first["score_delta"]),
        ("u1", "a2", other_agent.json()["score_delta"]),
        ("u2", "a1", second_body["score_delta"]),
    ]


async def test_owners_racing_with_one_id_are_each_scored_once(
    app_client: Any, database_url: str
) -> None:
    users = [f"u{i}" for i in range(6)]
    async with app_client() as client:
        bodies = [conversation("race", u) for u in users] * 2  # each owner sends it twice
        responses = await asyncio.gather(*(client.post(END, json=b) for b in bodies))
        friendships = [(await client.get(f"/v1/friendships/{u}/a1")).json() for u in users]
    answers = [r.json() for r in responses]
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert [a["user_id"] for a in answers] == users * 2, "nobody got another owner's answer"
    assert answers[: len(users)] == answers[len(users) :], "an owner's duplicate: one answer"
    for user, friendship, answer in zip(users, friendships, answers, strict=False):
        assert friendship["friendship_score"] == answer["score_delta"], f"{user} scored once"
    assert stored_owners(database_url, "race") == [
        (u, "a1", answers[0]["score_delta"]) for u in users
    ]
