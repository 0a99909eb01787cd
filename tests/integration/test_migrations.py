"""The shared schema migrates up and down on a real PostgreSQL, with data in it."""

from __future__ import annotations

import json
from typing import Any

import psycopg2
import pytest

from migrations import downgrade_database, upgrade_database

pytestmark = pytest.mark.integration

TABLES = {"friendships", "topic_metrics", "processed_conversations", "outbox_events"}


def _tables(url: str) -> set[str]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        return {row[0] for row in cursor.fetchall()}


def test_upgrade_creates_the_shared_tables(database_url: str) -> None:
    assert _tables(database_url) >= TABLES


def test_downgrade_then_upgrade_round_trips(database_url: str) -> None:
    downgrade_database(database_url)
    assert not (TABLES & _tables(database_url))
    upgrade_database(database_url)
    assert _tables(database_url) >= TABLES


def test_score_outside_0_1000_is_refused(database_url: str) -> None:
    with (
        psycopg2.connect(database_url) as connection,
        connection.cursor() as cursor,
        pytest.raises(psycopg2.errors.CheckViolation),
    ):
        cursor.execute("INSERT INTO friendships (user_id, agent_id, score) VALUES ('u', 'a', 1001)")


def _run(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _conversation(url: str, cid: str, user: str, agent: str = "a1", delta: int = 5) -> None:
    """One processed conversation (its friendship created if missing), as both versions write."""
    _run(
        url,
        "INSERT INTO friendships (user_id, agent_id, score) VALUES (%s, %s, %s) "
        "ON CONFLICT (user_id, agent_id) DO UPDATE SET score = friendships.score + %s",
        (user, agent, delta, delta),
    )
    _run(
        url,
        "INSERT INTO processed_conversations (conversation_id, user_id, agent_id, started_at, "
        "ended_at, score_delta, analysis, response) VALUES (%s, %s, %s, '2025-01-01T10:00Z', "
        "'2025-01-01T10:05Z', %s, '{}', %s)",
        (cid, user, agent, delta, json.dumps({"conversation_id": cid, "user_id": user})),
    )


def _rows(url: str) -> list[tuple[Any, ...]]:
    return _run(
        url,
        "SELECT conversation_id, user_id, agent_id, score_delta, response "
        "FROM processed_conversations ORDER BY conversation_id, user_id, agent_id",
    )


def _key(url: str) -> list[str]:
    return [
        row[0]
        for row in _run(
            url,
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'processed_conversations'::regclass "
            "AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
        )
    ]


def _version(url: str) -> str:
    return str(_run(url, "SELECT version_num FROM alembic_version")[0][0])


def test_0002_upgrade_keys_idempotency_per_owner_and_keeps_every_row(database_url: str) -> None:
    downgrade_database(database_url, "0001")
    assert _key(database_url) == ["conversation_id"]
    _conversation(database_url, "c1", "u1")
    _conversation(database_url, "c2", "u1", "a2", delta=7)
    _conversation(database_url, "c3", "u2")
    before = _rows(database_url)
    with pytest.raises(psycopg2.errors.UniqueViolation):  # 0001: the id was global
        _conversation(database_url, "c1", "u2")

    upgrade_database(database_url)

    assert _version(database_url) == "0002"
    assert _key(database_url) == ["conversation_id", "user_id", "agent_id"]
    assert _rows(database_url) == before, "every row survives the upgrade unchanged"
    _conversation(database_url, "c1", "u2")  # another owner's conversation with the same id
    _conversation(database_url, "c1", "u1", "a2")
    with pytest.raises(psycopg2.errors.UniqueViolation):  # the same owner twice: refused
        _conversation(database_url, "c1", "u1")
    assert [r[:3] for r in _rows(database_url) if r[0] == "c1"] == [
        ("c1", "u1", "a1"),
        ("c1", "u1", "a2"),
        ("c1", "u2", "a1"),
    ]


def test_0002_downgrade_refuses_while_an_id_has_several_owners_then_keeps_every_row(
    database_url: str,
) -> None:
    _conversation(database_url, "c1", "u1")
    _conversation(database_url, "c1", "u2")
    _conversation(database_url, "c2", "u1")
    rows = _rows(database_url)

    with pytest.raises(RuntimeError, match=r"cannot downgrade 0002 -> 0001: 1 conversation id"):
        downgrade_database(database_url, "0001")

    assert _version(database_url) == "0002", "the refused downgrade changed nothing"
    assert _key(database_url) == ["conversation_id", "user_id", "agent_id"]
    assert _rows(database_url) == rows
    # the operator decides which row goes (here: the newer owner's), then downgrades
    _run(database_url, "DELETE FROM processed_conversations WHERE user_id = 'u2'")
    downgrade_database(database_url, "0001")
    assert _version(database_url) == "0001"
    assert _key(database_url) == ["conversation_id"]
    assert _rows(database_url) == [r for r in rows if r[1] != "u2"]
    with pytest.raises(psycopg2.errors.UniqueViolation):
        _conversation(database_url, "c2", "u2")
