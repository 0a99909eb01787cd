"""Fixtures shared by every test tier: PostgreSQL, RabbitMQ and a process group.

PostgreSQL comes from DATABASE_URL (an admin URL; each test gets its own
database, created and dropped) or from an embedded server started once per
session. A test that needs RabbitMQ skips without AMQP_URL on a developer
machine, but fails in CI (CI=true), where the broker must be there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.postgres import EmbeddedPostgres, admin_url_from_env, temporary_database
from testbed.processes import ProcessGroup

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(env_var: str, what: str) -> str:
    value = os.environ.get(env_var, "").strip()
    if value:
        return value
    message = f"{what} needs {env_var}; set it (see README) to run this test"
    if IN_CI:
        pytest.fail(f"{message} - CI must provide it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def session_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessGroup]:
    """Processes that live for the whole session (the embedded PostgreSQL)."""
    with ProcessGroup(tmp_path_factory.mktemp("session-logs")) as group:
        yield group


@pytest.fixture(scope="session")
def pg_admin_url(session_processes: ProcessGroup) -> str:
    """An admin URL of a PostgreSQL server that the tests may create databases on."""
    return admin_url_from_env() or EmbeddedPostgres(session_processes).start()


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A freshly migrated database of the shared schema, dropped after the test."""
    with temporary_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def amqp_url() -> str:
    return require_service("AMQP_URL", "this RabbitMQ test")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    """A process group stopped at the end of the test, even when it fails."""
    with ProcessGroup(tmp_path / "logs") as group:
        yield group
