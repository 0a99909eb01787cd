"""The async engines: the request pool and the nightly job's own small pool.

``statement_timeout`` is set per connection through asyncpg's server_settings,
so a slow query is cancelled by PostgreSQL itself (10 s x TIME_SCALE).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@dataclass(frozen=True)
class PoolConfig:
    size: int
    max_overflow: int
    timeout_s: float
    statement_timeout_s: float | None
    connect_timeout_s: float | None


def build_engine(url: str, pool: PoolConfig, application_name: str) -> AsyncEngine:
    server_settings = {"application_name": application_name}
    if pool.statement_timeout_s is not None:
        server_settings["statement_timeout"] = str(max(1, int(pool.statement_timeout_s * 1000)))
    connect_args: dict[str, object] = {"server_settings": server_settings}
    if pool.connect_timeout_s is not None:
        connect_args["timeout"] = pool.connect_timeout_s
    return create_async_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_s,
        pool_pre_ping=False,  # a dead connection fails the request fast; the pool recycles it
        connect_args=connect_args,
    )
