"""SqlAlchemyFriendshipStore: the friendship repository and unit of work on PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from refactored.application.errors import StorageUnavailable
from refactored.application.events import ROUTING_KEY
from refactored.application.ports import (
    ConversationKey,
    ConversationRecord,
    DecayRule,
    Friendship,
    PendingRescore,
)
from refactored.core.resilience.deadline import remaining
from refactored.domain.model import Level, TopicMetric
from refactored.domain.scoring import INACTIVITY_BEFORE_DECAY
from refactored.infrastructure.db.errors import storage_errors
from refactored.infrastructure.db.tables import (
    TZ,
    friendships,
    outbox_events,
    processed_conversations,
    topic_metrics,
)

# The hot statements are built once with bind parameters: building a statement per call
# (and its cache key) cost more CPU than compiling it (docs/performance.md).
_USER: sa.BindParameter[str] = sa.bindparam("user_id")
_AGENT: sa.BindParameter[str] = sa.bindparam("agent_id")
_TOPIC_COLUMNS = ("topic", "mentions", "positive", "negative", "last_seen")
_OWNED_TOPICS = sa.and_(
    topic_metrics.c.user_id == friendships.c.user_id,
    topic_metrics.c.agent_id == friendships.c.agent_id,
)
# A friendship and its topics in one statement (one round trip, one snapshot): one row per
# topic, or one row with NULL topic columns when it has none.
_FRIENDSHIP_WITH_TOPICS = (
    sa.select(friendships, *(topic_metrics.c[c].label(f"t_{c}") for c in _TOPIC_COLUMNS))
    .select_from(friendships.outerjoin(topic_metrics, _OWNED_TOPICS))
    .where(friendships.c.user_id == _USER, friendships.c.agent_id == _AGENT)
)
# The hot read runs on asyncpg itself (SQLAlchemy's execution layer cost more CPU than the
# query, docs/performance.md): the same statement, compiled once for asyncpg's $n params.
FRIENDSHIP_WITH_TOPICS_SQL = str(
    _FRIENDSHIP_WITH_TOPICS.compile(dialect=asyncpg_dialect(paramstyle="numeric_dollar"))
)
# Under the row lock the topics are read by a statement of their own, after the lock is
# held: a joined read that waited for the lock would re-check the friendship row only and
# return the topics of its older snapshot (a lost update on the topic counters).
_LOCKED_FRIENDSHIP = (
    sa.select(friendships)
    .where(friendships.c.user_id == _USER, friendships.c.agent_id == _AGENT)
    .with_for_update()
)
_TOPICS = sa.select(topic_metrics).where(
    topic_metrics.c.user_id == _USER, topic_metrics.c.agent_id == _AGENT
)
_NEW_FRIENDSHIP = (
    insert(friendships)
    .values(user_id=_USER, agent_id=_AGENT, score=0, level=Level.STRANGER.value)
    .on_conflict_do_nothing()
)
_STORED_RESPONSE = sa.select(processed_conversations.c.response).where(
    processed_conversations.c.conversation_id == sa.bindparam("conversation_id"),
    processed_conversations.c.user_id == _USER,
    processed_conversations.c.agent_id == _AGENT,
)
AUTOCOMMIT = "AUTOCOMMIT"

# The writes of a unit of work are held and sent together, as one statement of
# data-modifying CTEs, when the next statement or the commit comes: one round trip (through
# Toxiproxy, to PostgreSQL, and SQLAlchemy's execution layer once) instead of one per write.
# Each CTE writes its own table, so none needs to see another's rows; a second write of the
# same kind sends what is held first. Parameters are prefixed per part (they may differ).
_WRITE_PARTS: dict[str, tuple[str, tuple[sa.BindParameter[Any], ...]]] = {
    "friendship": (
        "UPDATE friendships SET score = :f_score, level = :f_level,"
        " last_interaction_at = :f_last_interaction_at, updated_at = :f_updated_at"
        " WHERE user_id = :f_user_id AND agent_id = :f_agent_id",
        (sa.bindparam("f_last_interaction_at", type_=TZ), sa.bindparam("f_updated_at", type_=TZ)),
    ),
    "topics": (
        "INSERT INTO topic_metrics"
        " (user_id, agent_id, topic, mentions, positive, negative, last_seen)"
        " SELECT CAST(:t_user_id AS VARCHAR), CAST(:t_agent_id AS VARCHAR), u.topic,"
        " u.mentions, u.positive, u.negative, u.last_seen"
        " FROM unnest(CAST(:t_topic AS VARCHAR[]), CAST(:t_mentions AS INTEGER[]),"
        " CAST(:t_positive AS INTEGER[]), CAST(:t_negative AS INTEGER[]),"
        " CAST(:t_last_seen AS TIMESTAMPTZ[]))"
        " AS u(topic, mentions, positive, negative, last_seen)"
        " ON CONFLICT (user_id, agent_id, topic) DO UPDATE SET mentions = excluded.mentions,"
        " positive = excluded.positive, negative = excluded.negative,"
        " last_seen = excluded.last_seen",
        (
            sa.bindparam("t_topic", type_=ARRAY(sa.String)),
            sa.bindparam("t_mentions", type_=ARRAY(sa.Integer)),
            sa.bindparam("t_positive", type_=ARRAY(sa.Integer)),
            sa.bindparam("t_negative", type_=ARRAY(sa.Integer)),
            sa.bindparam("t_last_seen", type_=ARRAY(TZ)),
        ),
    ),
    "conversation": (
        "INSERT INTO processed_conversations (conversation_id, user_id, agent_id, started_at,"
        " ended_at, score_delta, analysis, degraded, response, rescore_status, rescore_input)"
        " VALUES (:c_conversation_id, :c_user_id, :c_agent_id, :c_started_at, :c_ended_at,"
        " :c_score_delta, :c_analysis, :c_degraded, :c_response, :c_rescore_status,"
        " :c_rescore_input)",
        (
            sa.bindparam("c_started_at", type_=TZ),
            sa.bindparam("c_ended_at", type_=TZ),
            *(
                sa.bindparam(f"c_{c}", type_=processed_conversations.c[c].type)
                for c in ("analysis", "degraded", "response", "rescore_input")
            ),
        ),
    ),
    "event": (
        "INSERT INTO outbox_events (id, event_type, routing_key, payload, attempts)"
        " VALUES (:e_id, :e_event_type, :e_routing_key, :e_payload, 0)",
        (
            sa.bindparam("e_id", type_=outbox_events.c.id.type),
            sa.bindparam("e_payload", type_=outbox_events.c.payload.type),
        ),
    ),
}


@functools.cache
def _writes_statement(parts: tuple[str, ...]) -> sa.TextClause:
    """One statement running ``parts``' writes (built once per combination of parts)."""
    ctes = ", ".join(f"w_{part} AS ({_WRITE_PARTS[part][0]})" for part in parts)
    binds = [bind for part in parts for bind in _WRITE_PARTS[part][1]]
    return sa.text(f"WITH {ctes} SELECT 1").bindparams(*binds)


def _with_topics(records: Sequence[asyncpg.Record]) -> Friendship | None:
    """The friendship of ``FRIENDSHIP_WITH_TOPICS_SQL``'s records (None: no record)."""
    if not records:
        return None
    topics = {
        r["t_topic"]: TopicMetric(
            r["t_topic"], r["t_mentions"], r["t_positive"], r["t_negative"], r["t_last_seen"]
        )
        for r in records
        if r["t_topic"] is not None
    }
    f = records[0]
    return Friendship(
        f["user_id"],
        f["agent_id"],
        f["score"],
        f["level"],
        f["last_interaction_at"],
        f["last_decay_date"],
        f["summary"],
        topics,
    )


def _friendship(row: Any, topics: dict[str, TopicMetric]) -> Friendship:
    return Friendship(
        row.user_id,
        row.agent_id,
        row.score,
        row.level,
        row.last_interaction_at,
        row.last_decay_date,
        row.summary,
        topics,
    )


def _conversation_row(key: ConversationKey) -> sa.ColumnElement[bool]:
    """The row of one owner's conversation (the primary key, migration 0002)."""
    pc = processed_conversations
    return sa.and_(
        pc.c.conversation_id == key.conversation_id,
        pc.c.user_id == key.user_id,
        pc.c.agent_id == key.agent_id,
    )


async def _stored_response(conn: AsyncConnection, key: ConversationKey) -> dict[str, Any] | None:
    params = {"conversation_id": key.conversation_id, "user_id": key.user_id}
    return await conn.scalar(_STORED_RESPONSE, {**params, "agent_id": key.agent_id})


class SqlAlchemyUnitOfWork:
    """One open transaction on one pooled connection.

    Writes (``save_friendship``, ``save_topic_metrics``, ``add_conversation``,
    ``add_event``) are held and sent in one round trip before the next statement or at
    :meth:`commit` (``_WRITE_PARTS``): a refused value or a duplicate conversation surfaces
    there, inside the same transaction, which then rolls back as before.
    """

    def __init__(
        self, conn: AsyncConnection, on_event_committed: Callable[[], None] | None = None
    ) -> None:
        self._conn = conn
        self._on_event_committed = on_event_committed
        self._events = False
        self._held: dict[str, dict[str, Any]] = {}  # part of _WRITE_PARTS -> its parameters

    async def _hold(self, part: str, params: dict[str, Any]) -> None:
        if part in self._held:  # two writes of one kind in one statement could collide
            await self._flush()
        self._held[part] = params

    async def _flush(self) -> None:
        if not self._held:
            return
        parts = tuple(p for p in _WRITE_PARTS if p in self._held)
        params = {k: v for p in parts for k, v in self._held[p].items()}
        self._held = {}
        await self._conn.execute(_writes_statement(parts), params)

    async def stored_response(self, key: ConversationKey) -> dict[str, Any] | None:
        await self._flush()
        return await _stored_response(self._conn, key)

    async def lock_friendship(self, user_id: str, agent_id: str) -> Friendship:
        await self._flush()
        owner = {"user_id": user_id, "agent_id": agent_id}
        await self._conn.execute(_NEW_FRIENDSHIP, owner)
        row = (await self._conn.execute(_LOCKED_FRIENDSHIP, owner)).one()
        topics = await self._conn.execute(_TOPICS, owner)
        return _friendship(
            row,
            {
                t.topic: TopicMetric(t.topic, t.mentions, t.positive, t.negative, t.last_seen)
                for t in topics
            },
        )

    async def save_friendship(self, f: Friendship, now: datetime) -> None:
        await self._hold(
            "friendship",
            {
                "f_user_id": f.user_id,
                "f_agent_id": f.agent_id,
                "f_score": f.score,
                "f_level": f.level,
                "f_last_interaction_at": f.last_interaction_at,
                "f_updated_at": now,
            },
        )

    async def save_topic_metrics(
        self, user_id: str, agent_id: str, metrics: Sequence[TopicMetric]
    ) -> None:
        if not metrics:
            return
        # one row per topic, the last one given winning (as writing them in turn would)
        latest = list({m.topic: m for m in metrics}.values())
        await self._hold(
            "topics",
            {
                "t_user_id": user_id,
                "t_agent_id": agent_id,
                "t_topic": [m.topic for m in latest],
                "t_mentions": [m.mentions for m in latest],
                "t_positive": [m.positive for m in latest],
                "t_negative": [m.negative for m in latest],
                "t_last_seen": [m.last_seen for m in latest],
            },
        )

    async def add_conversation(self, r: ConversationRecord) -> None:
        await self._hold(
            "conversation",
            {
                "c_conversation_id": r.conversation_id,
                "c_user_id": r.user_id,
                "c_agent_id": r.agent_id,
                "c_started_at": r.started_at,
                "c_ended_at": r.ended_at,
                "c_score_delta": r.score_delta,
                "c_analysis": r.analysis,
                "c_degraded": r.degraded,
                "c_response": r.response,
                "c_rescore_status": "pending" if r.rescore_input is not None else None,
                "c_rescore_input": r.rescore_input,
            },
        )

    async def add_event(self, event: dict[str, Any]) -> None:
        await self._hold(
            "event",
            {
                "e_id": uuid.UUID(event["event_id"]),
                "e_event_type": event["event_type"],
                "e_routing_key": ROUTING_KEY,
                "e_payload": event,
            },
        )
        self._events = True

    async def mark_rescored(
        self, key: ConversationKey, correction: int, analysis: dict[str, Any], now: datetime
    ) -> bool:
        await self._flush()
        pc = processed_conversations
        result = await self._conn.execute(
            sa.update(pc)
            .where(_conversation_row(key), pc.c.rescore_status == "pending")
            .values(
                rescore_status="done",
                score_correction=correction,
                rescored_at=now,
                rescore_input=pc.c.rescore_input.op("||")(
                    sa.cast({"corrected_analysis": analysis}, pc.c.rescore_input.type)
                ),
            )
        )
        return bool(result.rowcount)

    async def save_summary(self, user_id: str, agent_id: str, summary: str, now: datetime) -> None:
        await self._flush()
        await self._conn.execute(
            sa.update(friendships)
            .where(
                friendships.c.user_id == user_id,
                friendships.c.agent_id == agent_id,
            )
            .values(summary=summary, summary_updated_at=now)
        )

    async def commit(self) -> None:
        await self._flush()
        await self._conn.commit()
        if self._events and self._on_event_committed is not None:
            self._events = False
            self._on_event_committed()  # only now can the relay see the rows


class SqlAlchemyFriendshipStore:
    """Repository + unit-of-work factory on one engine (request pool or job pool).

    ``unit_timeout_s`` bounds one unit of work (a read or a transaction, pool acquire
    included) on the client, shortened to the request deadline minus ``reserve_s`` so a
    slow database answers 503 ``storage_unavailable`` before the deadline's 504. On expiry
    the connection is invalidated (terminated, no round trip) instead of rolled back: the
    rollback would cross the same slow link. None (the job pool, ``timeouts`` off): only
    the per-statement bounds of the engine apply. ``on_event_committed`` is called after
    each commit that wrote an outbox event (it wakes the relay).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        unit_timeout_s: float | None = None,
        reserve_s: float = 0.0,
        *,
        tracer: trace.Tracer | None = None,
        on_event_committed: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._unit_timeout = unit_timeout_s
        self._reserve = reserve_s
        self._tracer = tracer or trace.get_tracer(__name__)
        self._on_event_committed = on_event_committed

    def _bound(self) -> float | None:
        if self._unit_timeout is None:
            return None
        left = remaining()
        if left is None:
            return self._unit_timeout
        return max(0.0, min(self._unit_timeout, left - self._reserve))

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        bound = self._bound()
        timeout = asyncio.timeout(bound)
        try:
            async with timeout, self._engine.connect() as conn:
                try:
                    yield conn
                except asyncio.CancelledError:
                    # timed out (or the request was cancelled) mid-call: drop the connection
                    # now rather than roll back over a link that may be the slow part
                    await conn.invalidate()
                    raise
        except TimeoutError as exc:
            if not timeout.expired():
                raise
            raise StorageUnavailable(f"database call exceeded {bound:.2f}s") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlAlchemyUnitOfWork]:
        with self._tracer.start_as_current_span("db.transaction"), storage_errors():
            async with self._connection() as conn:
                await conn.begin()
                try:
                    yield SqlAlchemyUnitOfWork(conn, self._on_event_committed)
                finally:
                    if conn.in_transaction() and not conn.invalidated:
                        with suppress(Exception):  # the connection may be the thing that broke
                            await conn.rollback()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads, in autocommit: no BEGIN before and no ROLLBACK after
        (two round trips of three for a one-statement read). Under READ COMMITTED every
        statement takes its own snapshot anyway, so reads see exactly what they saw in a
        transaction; a read that needs one snapshot is one statement."""
        with self._tracer.start_as_current_span("db.read"), storage_errors():
            async with self._connection() as conn:
                yield await conn.execution_options(isolation_level=AUTOCOMMIT)

    async def stored_response(self, key: ConversationKey) -> dict[str, Any] | None:
        async with self._read() as conn:
            return await _stored_response(conn, key)

    @asynccontextmanager
    async def _driver_read(self) -> AsyncIterator[asyncpg.Connection]:
        """The pooled connection's own asyncpg connection, for the hot read: pool, bounds,
        invalidation and span as :meth:`_read`. Outside a transaction (SQLAlchemy's adapter
        never began one: returning the connection rolls nothing back); asyncpg's errors are
        translated by ``storage_errors`` like SQLAlchemy's."""
        with self._tracer.start_as_current_span("db.read"), storage_errors():
            async with self._connection() as conn:
                started = conn.sync_connection
                assert started is not None  # engine.connect() started it
                yield started.connection.driver_connection

    async def get_friendship(self, user_id: str, agent_id: str) -> Friendship | None:
        async with self._driver_read() as driver:
            return _with_topics(await driver.fetch(FRIENDSHIP_WITH_TOPICS_SQL, user_id, agent_id))

    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def decay_batch(self, now: datetime, batch_size: int, rule: DecayRule) -> int:
        today = now.astimezone(UTC).date()
        async with self.transaction() as uow:
            conn = uow._conn
            rows = (
                await conn.execute(
                    sa.select(friendships.c.user_id, friendships.c.agent_id, friendships.c.score)
                    .where(
                        friendships.c.last_interaction_at <= now - INACTIVITY_BEFORE_DECAY,
                        friendships.c.last_decay_date.is_distinct_from(today),
                    )
                    .order_by(friendships.c.user_id, friendships.c.agent_id)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                outcome = rule(row.score, now)
                await conn.execute(
                    sa.update(friendships)
                    .where(
                        friendships.c.user_id == row.user_id,
                        friendships.c.agent_id == row.agent_id,
                    )
                    .values(
                        score=outcome.score,
                        level=outcome.level,
                        last_decay_date=outcome.decay_date,
                        updated_at=now,
                    )
                )
            await uow.commit()
            return len(rows)

    async def active_since(self, since: datetime) -> list[Friendship]:
        async with self._read() as conn:
            rows = (
                await conn.execute(
                    sa.select(friendships)
                    .where(
                        friendships.c.last_interaction_at >= since,
                    )
                    .order_by(friendships.c.user_id, friendships.c.agent_id)
                )
            ).all()
            topics = (
                await conn.execute(
                    sa.select(topic_metrics)
                    .join(
                        friendships,
                        sa.and_(
                            topic_metrics.c.user_id == friendships.c.user_id,
                            topic_metrics.c.agent_id == friendships.c.agent_id,
                        ),
                    )
                    .where(friendships.c.last_interaction_at >= since)
                )
            ).all()
        by_key: dict[tuple[str, str], dict[str, TopicMetric]] = {}
        for t in topics:
            by_key.setdefault((t.user_id, t.agent_id), {})[t.topic] = TopicMetric(
                t.topic, t.mentions, t.positive, t.negative, t.last_seen
            )
        return [_friendship(r, by_key.get((r.user_id, r.agent_id), {})) for r in rows]

    async def pending_rescores(self, limit: int) -> list[PendingRescore]:
        pc = processed_conversations
        async with self._read() as conn:
            rows = (
                await conn.execute(
                    sa.select(pc)
                    .where(pc.c.rescore_status == "pending")
                    .order_by(pc.c.processed_at)
                    .limit(limit)
                )
            ).all()
        return [
            PendingRescore(
                r.conversation_id,
                r.user_id,
                r.agent_id,
                r.score_delta,
                list(r.degraded),
                r.rescore_input,
            )
            for r in rows
        ]
