"""Legacy's nightly job through POST /v1/admin/nightly on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.integration.legacy.conftest import FakeDeps, conversation

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin"}


async def nightly(api: httpx.AsyncClient, now: str) -> dict:
    response = await api.post("/v1/admin/nightly", json={"now": now}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


async def test_decay_once_per_day(api: httpx.AsyncClient) -> None:
    await api.post("/v1/conversations/end", json=conversation())  # score 14 at 2025-01-01T10:00
    too_early = await nightly(api, "2025-01-04T09:59:59Z")
    assert too_early == {
        "now": "2025-01-04T09:59:59+00:00",
        "decayed": 0,
        "summaries_refreshed": 0,
        "summaries_failed": 0,
        "rescored": 0,
    }
    assert (await nightly(api, "2025-01-04T10:00:00Z"))["decayed"] == 1  # exactly 72 h
    assert (await nightly(api, "2025-01-04T23:00:00Z"))["decayed"] == 0  # same UTC day
    friendship = (await api.get("/v1/friendships/u1/a1")).json()
    assert (friendship["friendship_score"], friendship["last_decay_date"]) == (13, "2025-01-04")
    # the decay date is the UTC date of now: Jan 5 01:00 at +02:00 is still Jan 4 in UTC
    assert (await nightly(api, "2025-01-05T01:00:00+02:00"))["decayed"] == 0
    assert (await nightly(api, "2025-01-05T03:00:00+02:00"))["decayed"] == 1
    friendship = (await api.get("/v1/friendships/u1/a1")).json()
    assert friendship["friendship_score"] == 12
    assert friendship["last_decay_date"] == "2025-01-05"


async def test_decay_of_score_zero_is_recorded(api: httpx.AsyncClient, fakes: FakeDeps) -> None:
    fakes.answers.update(
        emotion={"emotion": "negative"}, questions={"user_questions": 0}, topics={"topics": []}
    )
    body = await api.post("/v1/conversations/end", json=conversation(user_messages=1))
    assert body.json()["friendship_score"] == 0
    assert (await nightly(api, "2025-01-10T03:00:00Z"))["decayed"] == 1
    friendship = (await api.get("/v1/friendships/u1/a1")).json()
    assert (friendship["friendship_score"], friendship["last_decay_date"]) == (0, "2025-01-10")


async def test_summaries_of_active_friendships(api: httpx.AsyncClient, fakes: FakeDeps) -> None:
    await api.post("/v1/conversations/end", json=conversation())
    result = await nightly(api, "2025-01-02T03:00:00Z")
    assert (result["summaries_refreshed"], result["summaries_failed"]) == (1, 0)
    friendship = (await api.get("/v1/friendships/u1/a1")).json()
    assert friendship["summary"] == "Good friends who talk about music."

    fakes.answers["summary"] = httpx.Response(500)
    failed = await nightly(api, "2025-01-02T04:00:00Z")
    assert (failed["summaries_refreshed"], failed["summaries_failed"]) == (0, 1)
    friendship = (await api.get("/v1/friendships/u1/a1")).json()
    assert friendship["summary"] == "Good friends who talk about music.", "old summary kept"
    assert (await nightly(api, "2025-01-03T11:00:00Z"))["summaries_refreshed"] == 0  # > 24 h


async def test_nightly_needs_the_admin_token(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/admin/nightly", headers={"Authorization": "Bearer nope"})
    assert (response.status_code, response.json()) == (401, {"detail": "invalid admin token"})


async def test_nightly_without_body_runs_at_the_current_time(api: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    response = await api.post("/v1/admin/nightly", headers=ADMIN)
    assert response.status_code == 200, response.text
    ran_at = datetime.fromisoformat(response.json()["now"])
    assert ran_at.tzinfo is not None and before <= ran_at <= datetime.now(UTC)
