"""Run the refactored app in process: in-memory store, LLM/Memory API on respx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import respx
from fastapi import FastAPI

from refactored.core.settings import ExplicitSettings, Settings
from refactored.main import Overrides, create_app
from tests.unit.refactored.fake_llm import FakeDependencies
from tests.unit.refactored.fakes import InMemoryStore, RecordingAlerts

LLM = "http://llm.test/v1"
MEMORY = "http://memory.test"


def unit_settings(**extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "postgresql://unused@127.0.0.1:1/unused",
        "llm_base_url": LLM,
        "memory_api_url": MEMORY,
        "http_transport": "httpx",
        "time_scale": 0.001,
        "nightly_scheduler_enabled": False,
        "admin_token": "secret-token",
        "amqp_url": None,
        # A whole-request deadline of 60 s (and a breaker that stays open for 60 s)
        # unless a test says otherwise: a loaded CI machine must never turn a unit
        # test into a 504 or a half-open probe.
        "request_deadline_s": 60_000,
        "deadline_reserve_s": 0,
        "dependency_deadline_reserve_s": 0,
        "circuit_breaker_recovery_timeout": 60_000,
    }
    values.update(extra)
    return ExplicitSettings(**values)


async def no_sleep(seconds: float) -> None:
    """Retry backoff in tests: never sleep (tenacity's sleep hook)."""


def unit_overrides(**fields: Any) -> Overrides:
    """The harness's adapters (in-memory store, recorded alerts, no sleeping), or ``fields``."""
    values: dict[str, Any] = {
        "store": InMemoryStore(),
        "alerts": RecordingAlerts(),
        "retry_sleep": no_sleep,
        "background_tasks": False,
    }
    values.update(fields)
    return Overrides(**values)


@asynccontextmanager
async def running(
    deps: FakeDependencies, overrides: Overrides, **settings: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app (for its state) and a client, inside the app's lifespan."""
    app = create_app(unit_settings(**settings), overrides)
    with respx.mock(assert_all_called=False) as router:
        router.route(host="llm.test").mock(side_effect=deps)
        router.route(host="memory.test").mock(side_effect=deps)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
                yield app, client


@asynccontextmanager
async def running_app(
    deps: FakeDependencies,
    store: InMemoryStore | None = None,
    alerts: RecordingAlerts | None = None,
    **settings: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    overrides = unit_overrides(store=store or InMemoryStore(), alerts=alerts or RecordingAlerts())
    async with running(deps, overrides, **settings) as (_, client):
        yield client


def conversation(cid: str = "c1", user: str = "u1") -> dict[str, Any]:
    return {
        "conversation_id": cid,
        "user_id": user,
        "agent_id": "a1",
        "started_at": "2025-01-01T09:00:00Z",
        "ended_at": "2025-01-01T10:00:00Z",
        "messages": [
            {"role": "user", "content": "I love pizza?", "ts": "2025-01-01T09:01:00Z"},
            {"role": "assistant", "content": "Nice!", "ts": "2025-01-01T09:02:00Z"},
        ],
    }
