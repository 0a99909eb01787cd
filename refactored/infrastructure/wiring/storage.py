"""PostgreSQL: the request engine and store, the nightly job's own pool (bulkhead)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from refactored.application.ports import NightlyStore
from refactored.core.settings import Policy, Settings
from refactored.infrastructure.db.engine import PoolConfig, build_engine
from refactored.infrastructure.db.locks import advisory_lock
from refactored.infrastructure.db.store import SqlAlchemyFriendshipStore
from refactored.infrastructure.observability.tracing import Tracing
from refactored.infrastructure.wiring.assembly import Assembly

NIGHTLY_LOCK = "refactored.nightly"  # the advisory lock's name (scheduler and admin endpoint)
UNBOUNDED_POOL_TIMEOUT_S = 300.0  # pool_limits disabled: wait "forever" like legacy
JOB_POOL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Stores:
    store: NightlyStore  # the requests'
    job_store: NightlyStore  # the nightly job's (its own pool with the bulkhead on)


def pool_config(s: Settings, *, job: bool) -> PoolConfig:
    """The request pool (bounded, or "unbounded" with pool_limits off), or the job's."""
    bounds = (
        s.scaled_or_none(s.db_statement_timeout_s),
        s.scaled_or_none(s.db_connect_timeout_s),
        s.db_ssl,
        s.scaled_or_none(s.db_call_timeout_s),
    )
    if job:
        return PoolConfig(s.job_db_pool_size, 0, s.scaled(JOB_POOL_TIMEOUT_S), *bounds)
    if s.enabled(Policy.POOL_LIMITS):
        return PoolConfig(s.db_pool_size, s.db_max_overflow, s.scaled(s.db_pool_timeout), *bounds)
    return PoolConfig(s.unbounded_pool_size, 0, UNBOUNDED_POOL_TIMEOUT_S, *bounds)


def engine(a: Assembly, *, job: bool = False) -> AsyncEngine:
    name = "refactored-job" if job else "refactored"
    built = build_engine(a.settings.async_database_url, pool_config(a.settings, job=job), name)
    a.closing(built.dispose)
    return built


def request_engine(a: Assembly) -> AsyncEngine | None:
    """The requests' engine; None when the test substitutes the store."""
    return engine(a) if a.overrides.store is None else None


def stores(
    a: Assembly,
    db: AsyncEngine | None,
    tracing: Tracing,
    event_committed: Callable[[], None] | None,
) -> Stores:
    s, o = a.settings, a.overrides
    tracer = tracing.tracer(SqlAlchemyFriendshipStore.__module__)
    store = o.store
    if store is None:
        assert db is not None
        store = SqlAlchemyFriendshipStore(
            db,
            unit_timeout_s=s.scaled_or_none(s.db_call_timeout_s),
            reserve_s=s.scaled_or_none(s.deadline_reserve_s) or 0.0,
            tracer=tracer,
            on_event_committed=event_committed,
        )
    job_store = o.job_store
    if job_store is None:
        job_store = store
        if s.enabled(Policy.JOB_BULKHEAD) and db is not None:
            job_store = SqlAlchemyFriendshipStore(
                engine(a, job=True), tracer=tracer, on_event_committed=event_committed
            )
    return Stores(store, job_store)


def nightly_lock(
    db: AsyncEngine | None,
) -> Callable[[], AbstractAsyncContextManager[bool]] | None:
    """One nightly run at a time across every worker: the scheduler and
    POST /v1/admin/nightly take the same PostgreSQL advisory lock (None: no database)."""
    if db is None:
        return None
    return lambda: advisory_lock(db, NIGHTLY_LOCK)
