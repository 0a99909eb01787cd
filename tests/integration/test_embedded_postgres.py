"""The embedded PostgreSQL (fresh machines without DATABASE_URL) serves TCP on loopback."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from testbed.postgres import EmbeddedPostgres, max_connections, temporary_database
from testbed.processes import ProcessGroup

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_embedded_server_listens_on_loopback_tcp_and_stops(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path) as group:
        server = EmbeddedPostgres(group)
        admin_url = server.start()
        assert admin_url.startswith("postgresql://postgres@127.0.0.1:")
        assert max_connections(admin_url) >= 100
        with (
            temporary_database(admin_url) as url,
            psycopg2.connect(url) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute("SELECT count(*) FROM friendships")
            assert cursor.fetchone() == (0,)
        pid = server.process.pid if server.process else None
    assert server.process is not None and not server.process.alive(), f"postgres {pid} still runs"
    assert not server.root.exists()
