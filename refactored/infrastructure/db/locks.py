"""A PostgreSQL advisory lock, so only one worker process runs the scheduled nightly job."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from refactored.infrastructure.db.errors import storage_errors


@asynccontextmanager
async def advisory_lock(engine: AsyncEngine, name: str) -> AsyncIterator[bool]:
    """Yield True when this process got the lock (held until the block ends), else False."""
    key = zlib.crc32(name.encode())
    with storage_errors():
        async with engine.connect() as conn:
            got = bool(await conn.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
            await conn.commit()  # keep the session lock, end the implicit transaction
            try:
                yield got
            finally:
                if got:
                    await conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await conn.commit()
