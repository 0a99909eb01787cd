"""Sync SQLAlchemy engine with psycopg2 and the default QueuePool (pool_size 5, overflow 10, 30 s).

Legacy bug kept: the session is opened at request start and held for the whole request,
LLM calls included, so a few slow LLM calls exhaust the pool.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker


def psycopg2_url(database_url: str) -> str:
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg2://" + database_url[len(prefix) :]
    raise ValueError(
        f"DATABASE_URL must start with postgresql:// (got {database_url.split(':', 1)[0]}://...)"
    )


def make_engine(database_url: str) -> Engine:
    # No pool arguments: the defaults are what production ran with.
    return create_engine(psycopg2_url(database_url))


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def get_db(request: Request) -> Iterator[Session]:
    """One session per request, closed only when the response is done."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        session.close()
