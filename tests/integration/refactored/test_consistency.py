"""Idempotency and concurrency on real PostgreSQL: no lost update, no double write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.refactored.test_endpoints import conversation

pytestmark = pytest.mark.integration


async def test_concurrent_conversations_of_one_friendship_lose_no_update(app_client: Any) -> None:
    async with app_client() as client:
        responses = await asyncio.gather(
            *(client.post("/v1/conversations/end", json=conversation(f"c{i}")) for i in range(12))
        )
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        final = (await client.get("/v1/friendships/u1/a1")).json()
    scores = sorted(r.json()["friendship_score"] for r in responses)
    assert len(set(scores)) == 12  # each saw the previous one's score (serialised)
    assert final["friendship_score"] == scores[-1]
    assert final["friendship_score"] == sum(r.json()["score_delta"] for r in responses)
    assert final["topics"][0]["mentions"] == 12


async def test_concurrent_duplicates_write_once_and_answer_the_same(
    app_client: Any, deps: Any
) -> None:
    async with app_client() as client:
        responses = await asyncio.gather(
            *(client.post("/v1/conversations/end", json=conversation("same")) for _ in range(6))
        )
        final = (await client.get("/v1/friendships/u1/a1")).json()
    bodies = [r.json() for r in responses]
    assert all(r.status_code == 200 for r in responses)
    assert all(b == bodies[0] for b in bodies)
    assert final["friendship_score"] == bodies[0]["friendship_score"]
    assert final["topics"][0]["mentions"] == 1
