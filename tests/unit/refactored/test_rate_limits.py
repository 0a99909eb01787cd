"""The configured rate limits hold at their boundary, and no route of the app is unlimited.

slowapi's in-memory window starts at a client's first hit (not on a clock minute), so
N + 1 calls made well within a minute always land in one window.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Route

from tests.unit.refactored.app_harness import conversation, running, running_app, unit_overrides
from tests.unit.refactored.fake_llm import FakeDependencies

pytestmark = pytest.mark.unit
SUGGEST = {"user_id": "u1", "agent_id": "a1"}
ADMIN = {"Authorization": "Bearer secret-token"}


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60  # the rest of the one-minute window


async def test_activities_allow_60_calls_a_minute_and_refuse_the_61st() -> None:
    async with running_app(FakeDependencies()) as client:
        statuses = [
            (await client.post("/v1/activities/suggest", json=SUGGEST)).status_code
            for _ in range(60)
        ]
        refused = await client.post("/v1/activities/suggest", json=SUGGEST)
    assert statuses == [200] * 60
    assert_refused(refused)


async def test_conversations_allow_100_calls_a_minute_and_refuse_the_101st() -> None:
    async with running_app(FakeDependencies()) as client:
        # one conversation replayed: after the first, each call is a cheap idempotent replay
        statuses = [
            (await client.post("/v1/conversations/end", json=conversation())).status_code
            for _ in range(100)
        ]
        refused = await client.post("/v1/conversations/end", json=conversation())
    assert statuses == [200] * 100
    assert_refused(refused)


# One valid request per route (an invalid one is counted too: test_rate_limit_holds.py).
REQUESTS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/conversations/end"): {"json": conversation()},
    ("POST", "/v1/activities/suggest"): {"json": SUGGEST},
    ("GET", "/v1/friendships/{user_id}/{agent_id}"): {"url": "/v1/friendships/u1/a1"},
    ("POST", "/v1/admin/nightly"): {"headers": ADMIN, "json": {"now": "2025-01-05T03:00:00Z"}},
    ("GET", "/health"): {},
    ("GET", "/health/ready"): {},
    ("GET", "/metrics"): {},
    # FastAPI's own pages: no decorator, so RATE_LIMIT_DEFAULT through the middleware
    ("GET", "/openapi.json"): {},
    ("GET", "/docs"): {},
    ("GET", "/docs/oauth2-redirect"): {},
    ("GET", "/redoc"): {},
}


def endpoints(routes: list[BaseRoute]) -> set[tuple[str, str]]:
    """(method, path) of every route, descending into included routers (FastAPI >= 0.16x
    keeps those as one lazy entry of ``app.routes``)."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            found |= endpoints(included.routes)
        elif isinstance(route, Route):
            found |= {(method, route.path) for method in (route.methods or set()) - {"HEAD"}}
    return found


async def test_every_route_of_the_app_is_rate_limited() -> None:
    one_a_minute = {
        name: "1/minute"
        for name in (
            "rate_limit_default",
            "rate_limit_conversation_end",
            "rate_limit_activities_suggest",
            "rate_limit_health_check",
        )
    }
    async with running(FakeDependencies(), unit_overrides(), **one_a_minute) as (app, client):
        assert endpoints(app.routes) == set(REQUESTS), "a new route needs its entry here"
        for (method, path), request in REQUESTS.items():
            url = request.get("url", path)
            extra = {k: v for k, v in request.items() if k != "url"}
            first = await client.request(method, url, **extra)
            second = await client.request(method, url, **extra)
            assert first.status_code != 429, (method, path)
            assert second.status_code == 429, f"{method} {path} has no rate limit"
            assert_refused(second)
