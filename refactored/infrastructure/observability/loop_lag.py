"""Event-loop lag monitor: how late a periodic wake-up fires is how blocked the loop was."""

from __future__ import annotations

import asyncio
import logging

from refactored.infrastructure.observability.metrics import event_loop_lag, event_loop_lag_max

log = logging.getLogger(__name__)
WARN_LAG_S = 0.1


async def monitor_loop_lag(interval_s: float) -> None:
    loop = asyncio.get_running_loop()
    worst = 0.0
    while True:
        expected = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        lag = max(0.0, loop.time() - expected)
        event_loop_lag.observe(lag)
        if lag > worst:
            worst = lag
            event_loop_lag_max.set(worst)
        if lag > WARN_LAG_S:
            log.warning("event loop lag", extra={"lag_s": round(lag, 3)})
