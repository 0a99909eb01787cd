"""The outbox relay: publishes committed events, marks them published (at-least-once).

Events are claimed with ``FOR UPDATE SKIP LOCKED`` so several workers relay
without publishing the same row twice at the same time; a crash between the
broker's confirm and the ``published_at`` update re-publishes it later, which
is why consumers de-duplicate on ``event_id``. While the broker is down the
rows stay, get ``attempts``/``last_error``, and are retried with a capped exponential
backoff. The loop can never hang: the publisher bounds every broker operation and each
iteration runs under a watchdog timeout; any failure is logged and retried. Between
passes the relay waits for its poll interval or for :meth:`OutboxRelay.notify`, which the
store calls after committing an event, so a new event goes out at once.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from refactored.application.errors import BrokerUnavailable, StorageUnavailable
from refactored.application.ports import AlertSink, EventPublisher
from refactored.infrastructure.db.errors import storage_errors
from refactored.infrastructure.db.tables import outbox_events
from refactored.infrastructure.observability.metrics import outbox_backlog

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: EventPublisher | None,
        *,
        batch_size: int,
        poll_interval_s: float,
        backlog_alert: int,
        alerts: AlertSink | None = None,
        iteration_timeout_s: float | None = None,
        retry_max_s: float | None = None,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._batch = batch_size
        self._interval = poll_interval_s
        self._backlog_alert = backlog_alert
        self._alerts = alerts
        self._iteration_timeout = iteration_timeout_s
        self._retry_max = retry_max_s if retry_max_s is not None else 30 * poll_interval_s
        self._wakeup = asyncio.Event()
        self.failures = 0  # consecutive failed iterations (drives the backoff)

    def notify(self) -> None:
        """An event was committed: relay it now rather than at the next poll."""
        self._wakeup.set()

    async def backlog(self) -> int:
        with storage_errors():
            async with self._engine.connect() as conn:
                count = await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(outbox_events)
                    .where(outbox_events.c.published_at.is_(None))
                )
        outbox_backlog.set(count or 0)
        if self._alerts is not None and (count or 0) > self._backlog_alert:
            self._alerts.alert("P1", "Outbox backlog", f"{count} events waiting for the broker")
        return int(count or 0)

    async def relay_once(self) -> int:
        """Publish one batch; return how many were published."""
        if self._publisher is None:
            return 0
        published = 0
        with storage_errors():
            async with self._engine.connect() as conn, conn.begin():
                rows = (
                    await conn.execute(
                        sa.select(outbox_events.c.id, outbox_events.c.payload)
                        .where(outbox_events.c.published_at.is_(None))
                        .order_by(outbox_events.c.created_at)
                        .limit(self._batch)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
                for row in rows:
                    try:
                        await self._publisher.publish(row.payload)
                    except BrokerUnavailable as exc:
                        log.warning("outbox relay: broker unavailable", extra={"error": str(exc)})
                        self.failures += 1
                        await conn.execute(
                            sa.update(outbox_events)
                            .where(outbox_events.c.id == row.id)
                            .values(
                                attempts=outbox_events.c.attempts + 1, last_error=str(exc)[:500]
                            )
                        )
                        break  # the broker is down: the rest waits for the next poll
                    await conn.execute(
                        sa.update(outbox_events)
                        .where(outbox_events.c.id == row.id)
                        .values(
                            published_at=datetime.now(UTC), attempts=outbox_events.c.attempts + 1
                        )
                    )
                    published += 1
        return published

    def _backoff(self) -> float:
        """Poll interval while healthy; doubling per consecutive failure, capped."""
        if self.failures == 0:
            return self._interval
        return min(self._retry_max, self._interval * 2 ** min(self.failures, 30))

    async def iterate(self) -> int:
        """One relay pass (publish a batch, refresh the backlog) under the watchdog."""
        failures_before = self.failures
        async with asyncio.timeout(self._iteration_timeout):
            published = await self.relay_once()
            await self.backlog()
        if self.failures == failures_before:
            self.failures = 0  # a pass without a broker error: back to the poll interval
        return published

    async def run(self) -> None:
        """Relay forever: drain while there is work, else wait for a poll, a wake-up or backoff."""
        while True:
            # Cleared before the pass, not after: a notify() that arrives during the pass
            # (an event committed after its SELECT) must still end the wait below at once.
            self._wakeup.clear()
            try:
                published = await self.iterate()
            except StorageUnavailable as exc:
                log.warning("outbox relay: database unavailable", extra={"error": str(exc)})
                published = 0
                self.failures += 1
            except Exception as exc:  # the relay must outlive any bug or hang of one pass
                log.warning(
                    "outbox relay: iteration failed", exc_info=True, extra={"error": repr(exc)}
                )
                published = 0
                self.failures += 1
            if published >= self._batch and self.failures == 0:
                continue
            if self.failures:  # backing off: new events must not hammer a broker that is down
                await asyncio.sleep(self._backoff())
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._interval)
