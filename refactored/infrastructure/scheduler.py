"""The background nightly schedule: 03:00 UTC every day, the wait scaled by TIME_SCALE."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)
Exclusive = Callable[[], AbstractAsyncContextManager[bool]]
sleep = asyncio.sleep  # module attribute so a test can drive the schedule without waiting


def seconds_until(hour_utc: int, now: datetime) -> float:
    target = now.replace(hour=hour_utc, minute=0, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    return (target - now).total_seconds()


async def run_daily(
    job: Callable[[], Awaitable[object]],
    hour_utc: int,
    time_scale: float,
    exclusive: Exclusive | None = None,
) -> None:
    """Run ``job`` every day at ``hour_utc``; with ``exclusive``, in one worker only."""
    while True:
        await sleep(seconds_until(hour_utc, datetime.now(UTC)) * time_scale)
        try:
            if exclusive is None:
                await job()
                continue
            async with exclusive() as mine:
                if mine:
                    await job()
                else:
                    log.info("nightly job already running in another worker: skipped")
        except Exception:  # the schedule must survive a failed night; the error is logged
            log.exception("scheduled nightly job failed")
