"""The outbox relay: publishes committed events, marks them published (at-least-once).

Events are claimed with ``FOR UPDATE SKIP LOCKED`` so several workers relay
without publishing the same row twice at the same time; a crash between the
broker's confirm and the ``published_at`` update re-publishes it later, which
is why consumers de-duplicate on ``event_id``. While the broker is down the
rows stay, get ``attempts``/``last_error``, and are retried on the next poll.
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
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._batch = batch_size
        self._interval = poll_interval_s
        self._backlog_alert = backlog_alert
        self._alerts = alerts
        self.wakeup = asyncio.Event()

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

    async def run(self) -> None:
        """Relay forever: drain while there is work, else wait for a poll or a wake-up."""
        while True:
            try:
                published = await self.relay_once()
                await self.backlog()
            except StorageUnavailable as exc:
                log.warning("outbox relay: database unavailable", extra={"error": str(exc)})
                published = 0
            if published >= self._batch:
                continue
            self.wakeup.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=self._interval)
