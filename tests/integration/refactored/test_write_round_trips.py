"""A conversation end's writes reach PostgreSQL as one statement (one round trip).

The unit of work holds its writes (friendship, topics, conversation, outbox event) and sends
them together at the commit (``store._WRITE_PARTS``). Every statement the app sends is
recorded through SQLAlchemy's engine events; a unit of work that wrote as it went would
send four.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from refactored.domain.model import TopicMetric
from refactored.infrastructure.db.engine import PoolConfig, build_engine
from refactored.infrastructure.db.store import SqlAlchemyFriendshipStore
from tests.integration.refactored.test_endpoints import conversation

pytestmark = pytest.mark.integration

WRITES = ("UPDATE friendships", "INSERT INTO topic_metrics", "INSERT INTO processed_con")
WRITES += ("INSERT INTO outbox_events",)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if any(w in s for w in WRITES)]


async def test_a_conversation_end_writes_in_one_statement(
    app_client: Any, statements: list[str]
) -> None:
    async with app_client() as client:
        statements.clear()  # the migrations and the readiness probe are not the request
        response = await client.post("/v1/conversations/end", json=conversation())
        assert response.status_code == 200, response.text
        writes = _writes(statements)
        assert len(writes) == 1, writes
        assert all(w in writes[0] for w in WRITES), writes[0]

        stored = (await client.get("/v1/friendships/u1/a1")).json()
    assert stored["friendship_score"] == response.json()["friendship_score"]
    assert sorted(t["topic"] for t in stored["topics"]) == sorted(response.json()["topics"])


async def test_a_replay_writes_nothing(app_client: Any, statements: list[str]) -> None:
    async with app_client() as client:
        first = await client.post("/v1/conversations/end", json=conversation())
        statements.clear()
        again = await client.post("/v1/conversations/end", json=conversation())
    assert again.json() == first.json()
    assert _writes(statements) == []


async def test_held_writes_keep_the_order_of_the_calls(database_url: str) -> None:
    """A topic given twice is written once, the last value winning (as two writes in turn
    would leave it); a second write of one kind sends the first; a read in the same
    transaction sees what was written before it."""
    url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = build_engine(url, PoolConfig(2, 0, 5.0, 5.0, 5.0), "test-held-writes")
    store = SqlAlchemyFriendshipStore(engine)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    try:
        async with store.transaction() as uow:
            friendship = await uow.lock_friendship("u1", "a1")
            await uow.save_topic_metrics(
                "u1", "a1", [TopicMetric("music", 1, 1, 0, now), TopicMetric("music", 3, 2, 1, now)]
            )
            await uow.save_topic_metrics("u1", "a1", [TopicMetric("food", 5, 0, 0, now)])
            await uow.save_friendship(replace(friendship, score=42), now)
            seen = await uow.lock_friendship("u1", "a1")  # sends what is held first
            await uow.commit()
        assert seen.score == 42
        assert {t: (m.mentions, m.positive, m.negative) for t, m in seen.topic_metrics.items()} == {
            "music": (3, 2, 1),
            "food": (5, 0, 0),
        }
        stored = await store.get_friendship("u1", "a1")
        assert stored is not None and stored.score == 42
        assert set(stored.topic_metrics) == {"music", "food"}
    finally:
        await engine.dispose()
