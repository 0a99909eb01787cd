"""Only one worker runs the scheduled nightly job: a PostgreSQL advisory lock."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from refactored.infrastructure.db.locks import advisory_lock

pytestmark = pytest.mark.integration


async def test_second_holder_is_refused_until_the_first_releases(database_url: str) -> None:
    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with (
            advisory_lock(engine, "nightly") as first,
            advisory_lock(engine, "nightly") as second,
        ):
            assert (first, second) == (True, False)
        async with advisory_lock(engine, "nightly") as again:
            assert again is True
    finally:
        await engine.dispose()
