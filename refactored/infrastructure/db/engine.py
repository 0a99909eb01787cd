"""The async engines: the request pool and the nightly job's own small pool.

``statement_timeout`` is set per connection through asyncpg's server_settings,
so a slow query is cancelled by PostgreSQL itself (10 s x TIME_SCALE). The server
never sees a slow *link*, so asyncpg's ``command_timeout`` bounds each statement on the
client as well (``DB_CALL_TIMEOUT_S``).
"""

from __future__ import annotations

import os
import ssl as ssl_module
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@dataclass(frozen=True)
class PoolConfig:
    size: int
    max_overflow: int
    timeout_s: float
    statement_timeout_s: float | None
    connect_timeout_s: float | None
    ssl: str = "auto"  # auto | disable | verify
    # client-side bound per statement (asyncpg command_timeout): fires on a slow link too
    command_timeout_s: float | None = None


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", ""})


def ssl_setting(url: str, mode: str) -> ssl_module.SSLContext | bool:
    """TLS to PostgreSQL, decided once at start-up.

    asyncpg's default (``prefer``) looks for client certificates under
    ``~/.postgresql`` on every new connection: blocking file calls on the loop.
    So: ``auto`` = no TLS on loopback, verified TLS (system CAs, host name)
    elsewhere; ``verify`` = always verified TLS; ``disable`` = never.
    """
    host = make_url(url).host or ""
    if mode == "disable" or (mode == "auto" and host in LOOPBACK_HOSTS):
        return False
    return ssl_module.create_default_context()


def _no_password_source(url: str) -> bool:
    """True when asyncpg would look for a password file on every new connection in vain.

    asyncpg stats ``~/.pgpass`` on each connect when the URL has no password: a
    blocking file call on the event loop. Decided once, at start-up.
    """
    if make_url(url).password is not None or os.environ.get("PGPASSWORD"):
        return False
    passfile = os.environ.get("PGPASSFILE") or str(Path.home() / ".pgpass")
    return not Path(passfile).exists()


def build_engine(url: str, pool: PoolConfig, application_name: str) -> AsyncEngine:
    server_settings = {"application_name": application_name}
    if pool.statement_timeout_s is not None:
        server_settings["statement_timeout"] = str(max(1, int(pool.statement_timeout_s * 1000)))
    connect_args: dict[str, object] = {
        "server_settings": server_settings,
        "ssl": ssl_setting(url, pool.ssl),
    }
    if _no_password_source(url):
        connect_args["password"] = ""  # no password anywhere: skip asyncpg's pgpass lookup
    if pool.connect_timeout_s is not None:
        connect_args["timeout"] = pool.connect_timeout_s
    if pool.command_timeout_s is not None:
        connect_args["command_timeout"] = pool.command_timeout_s
    return create_async_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_s,
        pool_pre_ping=False,  # a dead connection fails the request fast; the pool recycles it
        connect_args=connect_args,
    )
