"""Fixtures: the refactored app on a real, freshly migrated PostgreSQL, dependencies faked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx

from refactored.core.settings import ExplicitSettings, Settings
from refactored.main import Overrides, create_app
from tests.unit.refactored.fake_llm import FakeDependencies

LLM = "http://llm.test/v1"
MEMORY = "http://memory.test"


def make_settings(database_url: str = "", **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "llm_base_url": LLM,
        "memory_api_url": MEMORY,
        "http_transport": "httpx",  # respx patches httpx's own transport
        "time_scale": 0.1,
        "nightly_scheduler_enabled": False,
        "admin_token": "t" * 8,
        "rate_limit_enabled": False,
        "amqp_url": None,
    }
    values.update(extra)
    return ExplicitSettings(**values)


@pytest.fixture
def deps() -> FakeDependencies:
    return FakeDependencies()


@pytest.fixture
def app_client(database_url: str, deps: FakeDependencies) -> Callable[..., Any]:
    """``async with app_client(**settings) as client`` runs the app with its lifespan."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(
        overrides: Overrides | None = None, **extra: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        extra.setdefault("database_url", database_url)
        app = create_app(make_settings(**extra), overrides)
        with respx.mock(assert_all_called=False) as router:
            router.route(host="llm.test").mock(side_effect=deps)
            router.route(host="memory.test").mock(side_effect=deps)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
                    yield c

    return start
