"""Every endpoint on a real PostgreSQL, fault-free: the answers of docs/conventions.md §4."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration


def conversation(cid: str = "c1", user: str = "u1", **extra: Any) -> dict[str, Any]:
    body = {
        "conversation_id": cid,
        "user_id": user,
        "agent_id": "a1",
        "started_at": "2025-01-01T09:00:00Z",
        "ended_at": "2025-01-01T10:00:00",
        "messages": [
            {"role": "user", "content": "I love pizza and music?", "ts": "2025-01-01T09:01:00Z"},
            {"role": "assistant", "content": "Nice!", "ts": "2025-01-01T09:02:00Z"},
            {"role": "user", "content": "thanks", "ts": "2025-01-01T09:03:00Z"},
        ],
    }
    body.update(extra)
    return body


async def test_end_conversation_scores_and_stores(app_client: Any) -> None:
    async with app_client() as client:
        response = await client.post("/v1/conversations/end", json=conversation())
        assert response.status_code == 200, response.text
        # emotion: 2 positive user messages -> positive (+5); 1 question (+2);
        # 2 user messages (+0); 2 new topics (+6); no streak -> 13
        assert response.json() == {
            "conversation_id": "c1",
            "user_id": "u1",
            "agent_id": "a1",
            "friendship_score": 13,
            "friendship_level": "stranger",
            "score_delta": 13,
            "emotion": "positive",
            "user_questions": 1,
            "topics": ["food", "music"],
            "degraded": [],
        }
        friendship = await client.get("/v1/friendships/u1/a1")
        assert friendship.status_code == 200
        assert friendship.json() == {
            "user_id": "u1",
            "agent_id": "a1",
            "friendship_score": 13,
            "friendship_level": "stranger",
            "last_interaction_at": "2025-01-01T10:00:00+00:00",
            "last_decay_date": None,
            "summary": None,
            "topics": [
                {
                    "topic": "food",
                    "mentions": 1,
                    "positive": 1,
                    "negative": 0,
                    "last_seen": "2025-01-01T10:00:00+00:00",
                },
                {
                    "topic": "music",
                    "mentions": 1,
                    "positive": 1,
                    "negative": 0,
                    "last_seen": "2025-01-01T10:00:00+00:00",
                },
            ],
        }


async def test_replay_returns_stored_response_and_changes_nothing(app_client: Any) -> None:
    async with app_client() as client:
        first = await client.post("/v1/conversations/end", json=conversation())
        replay = await client.post(
            "/v1/conversations/end",
            json=conversation(
                messages=[{"role": "user", "content": "x", "ts": "2025-01-01T09:00:00Z"}]
            ),
        )
        assert replay.json() == first.json()
        friendship = await client.get("/v1/friendships/u1/a1")
        assert friendship.json()["friendship_score"] == first.json()["friendship_score"]


async def test_missing_friendship_is_404(app_client: Any) -> None:
    async with app_client() as client:
        response = await client.get("/v1/friendships/nobody/a1")
        assert response.status_code == 404
        assert response.json() == {"detail": "friendship not found"}


async def test_activities_from_llm_and_fallback(app_client: Any, deps: Any) -> None:
    async with app_client() as client:
        await client.post("/v1/conversations/end", json=conversation())
        llm = await client.post(
            "/v1/activities/suggest", json={"user_id": "u1", "agent_id": "a1", "limit": 1}
        )
        assert llm.json() == {
            "activities": [{"title": "Talk about food", "reason": "you like it"}],
            "source": "llm",
        }
        stranger = await client.post(
            "/v1/activities/suggest", json={"user_id": "new", "agent_id": "a1", "limit": 2}
        )
        assert stranger.json() == {
            "activities": [
                {
                    "title": "Share your favourite song",
                    "reason": "Music is an easy way to get to know each other.",
                },
                {
                    "title": "Plan a virtual coffee chat",
                    "reason": "A relaxed talk helps you connect.",
                },
            ],
            "source": "fallback",
        }


async def test_health_and_ready(app_client: Any) -> None:
    async with app_client() as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "database": "ok",
            "breakers": {"llm": "closed", "memory": "closed"},
        }
        metrics = await client.get("/metrics")
        assert "http_request_duration_seconds" in metrics.text


async def test_admin_nightly_decays_and_refreshes(app_client: Any) -> None:
    async with app_client() as client:
        await client.post("/v1/conversations/end", json=conversation())
        unauthorized = await client.post("/v1/admin/nightly", json={})
        assert unauthorized.status_code == 401
        headers = {"Authorization": "Bearer tttttttt"}
        soon = await client.post(
            "/v1/admin/nightly", headers=headers, json={"now": "2025-01-01T12:00:00Z"}
        )
        assert soon.json() == {
            "now": "2025-01-01T12:00:00+00:00",
            "decayed": 0,
            "summaries_refreshed": 1,
            "summaries_failed": 0,
            "rescored": 0,
        }
        late = await client.post(
            "/v1/admin/nightly", headers=headers, json={"now": "2025-01-05T03:00:00Z"}
        )
        assert late.json()["decayed"] == 1
        again = await client.post(
            "/v1/admin/nightly", headers=headers, json={"now": "2025-01-05T04:00:00Z"}
        )
        assert again.json()["decayed"] == 0  # idempotent per day
        friendship = (await client.get("/v1/friendships/u1/a1")).json()
        assert friendship["friendship_score"] == 12
        assert friendship["last_decay_date"] == "2025-01-05"
        assert friendship["summary"] == "A stranger at 13."


async def test_admin_disabled_without_token(app_client: Any) -> None:
    async with app_client(admin_token=None) as client:
        response = await client.post("/v1/admin/nightly", json={})
        assert response.status_code == 503
        assert response.json() == {"detail": "admin endpoint disabled: set ADMIN_TOKEN"}


async def test_bad_input_is_422_and_big_body_413(app_client: Any) -> None:
    async with app_client() as client:
        bad = await client.post("/v1/conversations/end", json=conversation(messages=[]))
        assert bad.status_code == 422
        backwards = await client.post(
            "/v1/conversations/end", json=conversation(ended_at="2024-01-01T00:00:00Z")
        )
        assert backwards.status_code == 422
        big = await client.post(
            "/v1/conversations/end",
            content=b"x" * (1024 * 1024 + 1),
            headers={"content-type": "application/json"},
        )
        assert big.status_code == 413
        assert big.json() == {"detail": "request body exceeds 1048576 bytes"}
