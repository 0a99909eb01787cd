"""The background nightly schedule: 03:00 UTC every day, the wait scaled by TIME_SCALE."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import anyio

log = logging.getLogger(__name__)


def seconds_until(hour_utc: int, now: datetime) -> float:
    target = now.replace(hour=hour_utc, minute=0, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    return (target - now).total_seconds()


async def run_daily(job: Callable[[], Awaitable[object]], hour_utc: int, time_scale: float) -> None:
    while True:
        await anyio.sleep(seconds_until(hour_utc, datetime.now(UTC)) * time_scale)
        try:
            await job()
        except Exception:  # the schedule must survive a failed night; the error is logged
            log.exception("scheduled nightly job failed")
