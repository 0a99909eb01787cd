"""Hostile values against a real PostgreSQL: 422, never 503, and no P0 "Database unavailable".

Twice: through HTTP (the schema refuses the value before any SQL), and straight at the
store (the repository boundary translates the driver's data errors to InvalidInput, the
defence in depth for a value the schema would let through).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from refactored.application.errors import InvalidInput
from refactored.infrastructure.db.store import SqlAlchemyFriendshipStore
from refactored.main import Overrides
from tests.integration.refactored.test_endpoints import conversation
from tests.unit.refactored.fakes import RecordingAlerts

pytestmark = pytest.mark.integration


def _with(**changes: Any) -> dict[str, Any]:
    body = conversation()
    body.update(changes)
    return body


@pytest.mark.parametrize(
    "body",
    [
        _with(user_id="u\x00"),
        _with(conversation_id="c\x00"),
        _with(ended_at="0001-01-01T00:00:00Z", started_at="0001-01-01T00:00:00Z"),
        _with(ended_at="9999-12-31T23:59:59Z"),
        _with(ended_at="2099-01-01T00:00:00Z"),
    ],
)
async def test_hostile_conversation_is_422_without_a_p0(app_client: Any, body: Any) -> None:
    alerts = RecordingAlerts()
    async with app_client(Overrides(alerts=alerts)) as client:
        response = await client.post("/v1/conversations/end", json=body)
        ready = await client.get("/health/ready")
    assert response.status_code == 422, response.text
    assert "Retry-After" not in response.headers
    assert alerts.alerts == []
    assert ready.status_code == 200  # the database was never the problem


async def test_nul_in_a_path_parameter_is_422_without_a_p0(app_client: Any) -> None:
    alerts = RecordingAlerts()
    async with app_client(Overrides(alerts=alerts)) as client:
        response = await client.get("/v1/friendships/u%00/a1")
    assert response.status_code == 422
    assert alerts.alerts == []


@pytest.fixture
async def store(database_url: str) -> Any:
    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://"))
    yield SqlAlchemyFriendshipStore(engine)
    await engine.dispose()


async def test_the_store_translates_a_nul_to_invalid_input(store: Any) -> None:
    with pytest.raises(InvalidInput):
        await store.get_friendship("u\x00", "a1")
    with pytest.raises(InvalidInput):
        async with store.transaction() as uow:
            await uow.lock_friendship("u1", "a\x00")
    assert await store.get_friendship("u1", "a1") is None  # the store still works


async def test_the_store_translates_an_unencodable_value_to_invalid_input(store: Any) -> None:
    with pytest.raises(InvalidInput):
        await store.get_friendship("u\ud800", "a1")  # asyncpg cannot encode it to UTF-8
    with pytest.raises(InvalidInput):
        # an instant after datetime.max in UTC: asyncpg cannot encode it
        await store.active_since(datetime.max.replace(tzinfo=timezone(timedelta(hours=-10))))
