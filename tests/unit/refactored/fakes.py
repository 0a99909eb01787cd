"""In-memory fakes of the refactored service's ports; each records what it saw."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from refactored.application.errors import DuplicateConversation, LlmUnavailable, StorageUnavailable
from refactored.application.ports import (
    ConversationKey,
    ConversationRecord,
    DecayRule,
    Friendship,
    Message,
    PendingRescore,
)
from refactored.domain.analysis import Activity
from refactored.domain.model import TopicMetric
from refactored.domain.scoring import INACTIVITY_BEFORE_DECAY


@dataclass
class FixedClock:
    current: datetime = datetime(2025, 1, 1, 12, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class _Data:
    friendships: dict[tuple[str, str], Friendship] = field(default_factory=dict)
    conversations: dict[ConversationKey, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    summaries: dict[tuple[str, str], str] = field(default_factory=dict)


class InMemoryUnitOfWork:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._data = copy.deepcopy(store.data)  # a private copy: committed, or dropped
        self._touched: set[tuple[str, str]] = set()
        self._conversations: set[ConversationKey] = set()
        self._events: list[dict[str, Any]] = []

    async def stored_response(self, key: ConversationKey) -> dict[str, Any] | None:
        row = self._store.data.conversations.get(key)
        return row["response"] if row else None

    async def lock_friendship(self, user_id: str, agent_id: str) -> Friendship:
        await self._store.lock_for(user_id, agent_id, self)
        key = (user_id, agent_id)
        self._data = copy.deepcopy(self._store.data)  # read the latest committed state
        self._touched.add(key)
        if key not in self._data.friendships:
            self._data.friendships[key] = Friendship(
                user_id, agent_id, 0, "stranger", None, None, None, {}
            )
        return self._data.friendships[key]

    async def save_friendship(self, f: Friendship, now: datetime) -> None:
        old = self._data.friendships[(f.user_id, f.agent_id)]
        self._data.friendships[(f.user_id, f.agent_id)] = replace(
            old, score=f.score, level=f.level, last_interaction_at=f.last_interaction_at
        )

    async def save_topic_metrics(
        self, user_id: str, agent_id: str, metrics: Sequence[TopicMetric]
    ) -> None:
        f = self._data.friendships[(user_id, agent_id)]
        merged = {**f.topic_metrics, **{m.topic: m for m in metrics}}
        self._data.friendships[(user_id, agent_id)] = replace(f, topic_metrics=merged)

    async def add_conversation(self, r: ConversationRecord) -> None:
        key = ConversationKey(r.user_id, r.agent_id, r.conversation_id)
        if key in self._store.data.conversations:
            raise DuplicateConversation(r.conversation_id)
        self._conversations.add(key)
        self._data.conversations[key] = {
            "record": r,
            "response": r.response,
            "score_delta": r.score_delta,
            "rescore_status": "pending" if r.rescore_input else None,
        }

    async def add_event(self, event: dict[str, Any]) -> None:
        self._events.append(event)

    async def mark_rescored(
        self, key: ConversationKey, correction: int, analysis: dict[str, Any], now: datetime
    ) -> bool:
        row = self._data.conversations[key]
        if row["rescore_status"] != "pending":
            return False
        row.update(rescore_status="done", score_correction=correction)
        self._conversations.add(key)
        return True

    async def save_summary(self, user_id: str, agent_id: str, summary: str, now: datetime) -> None:
        current = self._store.data.friendships[(user_id, agent_id)]
        self._data.friendships[(user_id, agent_id)] = replace(current, summary=summary)
        self._touched.add((user_id, agent_id))

    async def commit(self) -> None:
        if self._store.fail_with is not None:
            raise self._store.fail_with
        data = self._store.data
        for key in self._touched:
            data.friendships[key] = self._data.friendships[key]
        for ckey in self._conversations:
            data.conversations[ckey] = self._data.conversations[ckey]
        data.events.extend(self._events)
        self._store.commits += 1


class InMemoryStore:
    """FriendshipStore + NightlyStore in memory; ``fail_with`` simulates a database outage."""

    def __init__(self) -> None:
        self.data = _Data()
        self.commits = 0
        self.fail_with: Exception | None = None
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def lock_for(self, user_id: str, agent_id: str, uow: InMemoryUnitOfWork) -> None:
        lock = self._locks.setdefault((user_id, agent_id), asyncio.Lock())
        await lock.acquire()
        uow._held = lock  # type: ignore[attr-defined]

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[InMemoryUnitOfWork]:
        self._check()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        uow = InMemoryUnitOfWork(self)
        try:
            yield uow
        finally:
            self.in_flight -= 1
            held = getattr(uow, "_held", None)
            if held is not None:
                held.release()

    async def stored_response(self, key: ConversationKey) -> dict[str, Any] | None:
        self._check()
        row = self.data.conversations.get(key)
        return row["response"] if row else None

    async def get_friendship(self, user_id: str, agent_id: str) -> Friendship | None:
        self._check()
        return self.data.friendships.get((user_id, agent_id))

    async def ping(self) -> None:
        self._check()

    async def decay_batch(self, now: datetime, batch_size: int, rule: DecayRule) -> int:
        self._check()
        today = now.astimezone(UTC).date()
        due = [
            f
            for f in self.data.friendships.values()
            if f.last_interaction_at is not None
            and f.last_interaction_at <= now - INACTIVITY_BEFORE_DECAY
            and f.last_decay_date != today
        ][:batch_size]
        for f in due:
            outcome = rule(f.score, now)
            self.data.friendships[(f.user_id, f.agent_id)] = replace(
                f, score=outcome.score, level=outcome.level, last_decay_date=outcome.decay_date
            )
        return len(due)

    async def active_since(self, since: datetime) -> list[Friendship]:
        self._check()
        return [
            f
            for f in self.data.friendships.values()
            if f.last_interaction_at is not None and f.last_interaction_at >= since
        ]

    async def pending_rescores(self, limit: int) -> list[PendingRescore]:
        self._check()
        rows = [r for r in self.data.conversations.values() if r["rescore_status"] == "pending"]
        return [
            PendingRescore(
                r["record"].conversation_id,
                r["record"].user_id,
                r["record"].agent_id,
                r["score_delta"],
                r["record"].degraded,
                r["record"].rescore_input,
            )
            for r in rows[:limit]
        ]


def storage_down() -> StorageUnavailable:
    return StorageUnavailable("database unreachable (fake)")


@dataclass
class FakeAnalyzer:
    """Answers fixed values; ``failing`` tasks raise LlmUnavailable; ``delay`` slows every call."""

    emotion_value: str = "positive"
    questions_value: int = 1
    topics_value: tuple[str, ...] = ("food",)
    failing: set[str] = field(default_factory=set)
    delay: float = 0.0
    calls: list[str] = field(default_factory=list)

    async def _call(self, task: str) -> None:
        self.calls.append(task)
        if self.delay:
            await asyncio.sleep(self.delay)
        if task in self.failing or "*" in self.failing:
            raise LlmUnavailable(f"{task} failed (fake)")

    async def emotion(self, messages: Sequence[Message]) -> str:
        await self._call("emotion")
        return self.emotion_value

    async def user_questions(self, messages: Sequence[Message]) -> int:
        await self._call("questions")
        return self.questions_value

    async def topics(self, messages: Sequence[Message]) -> tuple[str, ...]:
        await self._call("topics")
        return self.topics_value

    async def activities(self, context: dict[str, Any], limit: int) -> tuple[Activity, ...]:
        await self._call("activities")
        return (Activity("Cook", "fun"),)[:limit]

    async def summary(self, context: dict[str, Any]) -> str:
        await self._call("summary")
        return f"summary of {context['user_id']}"


@dataclass
class FakeMemory:
    fail: bool = False
    calls: int = 0

    async def add(self, user_id: str, agent_id: str, messages: Sequence[Message]) -> int:
        self.calls += 1
        if self.fail:
            from refactored.application.errors import MemoryUnavailable

            raise MemoryUnavailable("memory down (fake)")
        return 1


@dataclass
class RecordingAlerts:
    alerts: list[tuple[str, str]] = field(default_factory=list)

    def alert(
        self, level: str, title: str, message: str, conversation_id: str | None = None
    ) -> None:
        self.alerts.append((level, title))


@dataclass
class RecordingPublisher:
    events: list[dict[str, Any]] = field(default_factory=list)
    fail: Exception | None = None

    async def publish(self, event: dict[str, Any]) -> None:
        if self.fail is not None:
            raise self.fail
        self.events.append(event)
