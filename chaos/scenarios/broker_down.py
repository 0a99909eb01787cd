"""broker_down: RabbitMQ unreachable during traffic, then back (transactional outbox).

Fault: the ``rabbitmq`` Toxiproxy proxy is disabled for 1.2 LB timeouts. A consumer
(straight to the broker, not through the proxy) binds its own queue to exchange
``friendship`` before the load starts. After recovery, every processed conversation of
this scenario must have its ``friendship.score_updated`` event delivered (de-duplicated on
``event_id``: at-least-once). Refactored writes events to the outbox in the scoring
transaction and its relay publishes them once the broker is back. Legacy publishes inline
after commit: events of the outage are lost. Skipped (with a note) without ``AMQP_URL``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from chaos.load_plan import LoadPlan, standard_clients
from chaos.measure import _asyncpg_url
from chaos.scenarios.checks import is_2xx, sanity_fault, sanity_load_during_fault, share_check
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.effects import counted
from chaos.scenarios.faults import proxy_down
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation

EXCHANGE = "friendship"
ROUTING_KEY = "friendship.score_updated"
OUTAGE_SETTLE_S = 0.5  # events published just before the cut may still arrive


class BrokerDown(Scenario):
    name = "broker_down"
    description = (
        "RabbitMQ unreachable then back: requests are served, the outbox accumulates and "
        "after recovery every event is delivered, none lost"
    )
    needs_amqp = True

    def __init__(self) -> None:
        self._consumers: dict[str, _Consumer] = {}

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(1.2 * ctx.lb_timeout_s, 5.0), recovery_s=1.5)

    def drain_timeout_s(self, ctx: ScenarioContext) -> float:
        # the relay reconnects with backoff; one and a half LB timeouts is plenty to catch up
        return max(8.0, 1.5 * ctx.lb_timeout_s)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        return [proxy_down("broker_down", "rabbitmq", t.fault_start_s, t.fault_end_s)]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(5))

    async def prepare(self, ctx: ScenarioContext) -> None:
        assert ctx.amqp_url, "broker_down needs AMQP_URL (the runner skips it otherwise)"
        consumer = _Consumer(ctx.amqp_url, f"agent-{ctx.prefix}", clock=ctx.now)
        await consumer.start()
        self._consumers[ctx.prefix] = consumer

    async def finish(self, ctx: ScenarioContext, m: Measurements) -> None:
        import asyncpg

        consumer = self._consumers.pop(ctx.prefix)
        agent = f"agent-{ctx.prefix}"
        try:
            conn = await asyncpg.connect(_asyncpg_url(ctx.endpoints.database_url), timeout=10)
            try:
                rows = await conn.fetch(
                    "select conversation_id from processed_conversations where agent_id = $1", agent
                )
            finally:
                await conn.close()
            expected = {r["conversation_id"] for r in rows}
            loop = asyncio.get_running_loop()
            started = loop.time()
            deadline = started + self.drain_timeout_s(ctx)
            while loop.time() < deadline:
                if expected <= consumer.conversation_ids():
                    break
                await asyncio.sleep(0.25)
            drain_s = round(loop.time() - started, 2)
            await asyncio.sleep(0.5)  # late duplicates
        finally:
            await consumer.stop()
        delivered = consumer.conversation_ids()
        ctx.facts["event_drain_s"] = drain_s
        start, end = m.window()
        outage_from = start + OUTAGE_SETTLE_S
        m.extra["events"] = {
            "expected": len(expected),
            "delivered": len(expected & delivered),
            "lost": len(expected - delivered),
            "duplicated": consumer.duplicates(),
            "messages": consumer.messages,
            "drain_s": drain_s,  # after the load ended, until every event arrived (or gave up)
            # what the consumer (straight to the broker) received while the proxy was down
            "delivered_during_outage": sum(
                1 for t in consumer.arrivals_s if outage_from <= t < end
            ),
        }

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        # the target could not publish: the consumer, which reaches the broker directly,
        # received nothing while conversations were being processed
        start, _end = m.window()
        processed = [s for s in m.during() if is_2xx(s) and s.t_s >= start + OUTAGE_SETTLE_S]
        return [
            counted(
                "effect_conversations_during_outage",
                "conversation ends answered 2xx during the outage (events that had to wait)",
                len(processed),
                ">=",
                1,
            ),
            counted(
                "effect_no_events_during_outage",
                f"events the broker delivered from {OUTAGE_SETTLE_S:g} s into the outage to its "
                "end (a target that still reaches the broker was not cut off)",
                m.extra.get("events", {}).get("delivered_during_outage"),
                "==",
                0,
            ),
        ]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        events: dict[str, Any] = m.extra.get("events", {})
        m.integrity.update(
            {
                "events_expected": events.get("expected"),
                "events_delivered": events.get("delivered"),
                "events_lost": events.get("lost"),
                "events_duplicated": events.get("duplicated"),
            }
        )
        return [
            sanity_fault(m),
            sanity_load_during_fault(m, 5),
            Expectation.check(
                "events_expected",
                "processed conversations that must each produce one event",
                events.get("expected"),
                ">=",
                5,
                role="sanity",
            ),
            Expectation.check(
                "no_lost_events",
                "processed conversations whose friendship.score_updated event never arrived",
                events.get("lost"),
                "==",
                0,
            ),
            share_check(
                "conversation_end_2xx_share",
                "share of conversation ends answered 2xx while the broker is down",
                m.during(),
                is_2xx,
                ">=",
                0.95,
            ),
        ]


class _Consumer:
    """A temporary queue bound to the exchange; keeps the events of one agent id."""

    def __init__(
        self, amqp_url: str, agent_id: str, clock: Callable[[], float] = lambda: 0.0
    ) -> None:
        self.amqp_url, self.agent_id, self.clock = amqp_url, agent_id, clock
        self.events: list[dict[str, Any]] = []
        self.arrivals_s: list[float] = []  # on the scenario clock, one per kept event
        self.messages = 0
        self._connection: Any = None

    async def start(self) -> None:
        import aio_pika

        self._connection = await aio_pika.connect_robust(self.amqp_url, timeout=10)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=ROUTING_KEY)
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: Any) -> None:
        try:
            body = json.loads(message.body)
        except ValueError:
            return
        if isinstance(body, dict) and body.get("agent_id") == self.agent_id:
            self.messages += 1
            self.events.append(body)
            self.arrivals_s.append(self.clock())

    def conversation_ids(self) -> set[str]:
        return {str(e.get("conversation_id")) for e in self.events}

    def duplicates(self) -> int:
        counts = Counter(str(e.get("event_id")) for e in self.events)
        return sum(n - 1 for n in counts.values() if n > 1)

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()


SCENARIO = BrokerDown()
