"""The shared schema migrates up and down on a real PostgreSQL."""

from __future__ import annotations

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
