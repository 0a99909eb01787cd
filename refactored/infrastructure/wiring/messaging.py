"""The broker publisher and the transactional outbox's relay."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from refactored.application.ports import AlertSink, EventPublisher
from refactored.core.settings import Policy
from refactored.infrastructure.messaging.outbox import OutboxRelay
from refactored.infrastructure.messaging.publisher import AioPikaEventPublisher
from refactored.infrastructure.observability.tracing import Tracing
from refactored.infrastructure.wiring.assembly import Assembly

AMQP_UNBOUNDED_TIMEOUT_S = 60.0  # timeouts disabled: the publisher still takes a number
MIN_POLL_INTERVAL_S = 0.05


def publisher(a: Assembly, tracing: Tracing) -> EventPublisher | None:
    """The test's publisher, else RabbitMQ's when AMQP_URL is set; None: no broker."""
    s = a.settings
    if a.overrides.publisher is not None or not s.amqp_url:
        return a.overrides.publisher
    amqp = AioPikaEventPublisher(
        s.amqp_url,
        s.scaled_or_none(s.amqp_timeout_s) or AMQP_UNBOUNDED_TIMEOUT_S,
        tracing.tracer(AioPikaEventPublisher.__module__),
    )
    a.closing(amqp.aclose)
    return amqp


def outbox_relay(
    a: Assembly, db: AsyncEngine | None, events: EventPublisher | None, alerts: AlertSink
) -> OutboxRelay | None:
    """The relay publishing committed events (outbox policy on and a real database)."""
    s = a.settings
    if not s.enabled(Policy.OUTBOX) or db is None:
        return None
    relay = OutboxRelay(
        db,
        events,
        batch_size=s.outbox_batch_size,
        poll_interval_s=max(MIN_POLL_INTERVAL_S, s.scaled(s.outbox_poll_interval_s)),
        backlog_alert=s.outbox_backlog_alert,
        alerts=alerts,
        iteration_timeout_s=s.scaled_or_none(s.outbox_iteration_timeout_s),
        retry_max_s=s.scaled(s.outbox_retry_max_s),
    )
    a.tasks.append(relay.run())
    return relay


def commit_hook(
    relay: OutboxRelay | None, events: EventPublisher | None
) -> Callable[[], None] | None:
    """A committed outbox event wakes this worker's relay rather than waiting for its poll
    (with no broker to publish to, a wake-up would only count the backlog again)."""
    return relay.notify if relay is not None and events is not None else None
