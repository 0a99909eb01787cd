"""Ports: one Protocol per role the use cases need. Adapters live in infrastructure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from refactored.domain.analysis import Activity
from refactored.domain.model import DecayOutcome, FriendshipState, TopicMetric


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    ts: datetime


@dataclass(frozen=True)
class Friendship:
    """A stored friendship row with its topic metrics."""

    user_id: str
    agent_id: str
    score: int
    level: str
    last_interaction_at: datetime | None
    last_decay_date: date | None
    summary: str | None
    topic_metrics: dict[str, TopicMetric]

    def state(self) -> FriendshipState:
        return FriendshipState(self.score, dict(self.topic_metrics), self.last_interaction_at)


class ConversationAnalyzer(Protocol):
    """The LLM: each call raises LlmUnavailable (or InvalidAnswer) on failure."""

    async def emotion(self, messages: Sequence[Message]) -> str: ...
    async def user_questions(self, messages: Sequence[Message]) -> int: ...
    async def topics(self, messages: Sequence[Message]) -> tuple[str, ...]: ...
    async def activities(self, context: dict[str, Any], limit: int) -> tuple[Activity, ...]: ...
    async def summary(self, context: dict[str, Any]) -> str: ...


class MemoryStore(Protocol):
    """The Memory API; raises MemoryUnavailable on failure."""

    async def add(self, user_id: str, agent_id: str, messages: Sequence[Message]) -> int: ...


@dataclass(frozen=True)
class ConversationKey:
    """The idempotency key: a conversation id belongs to its owner (docs/conventions.md §4).

    Another user's (or agent's) conversation with the same id is a different conversation.
    """

    user_id: str
    agent_id: str
    conversation_id: str


@dataclass(frozen=True)
class ConversationRecord:
    """Everything written about one processed conversation."""

    conversation_id: str
    user_id: str
    agent_id: str
    started_at: datetime
    ended_at: datetime
    score_delta: int
    analysis: dict[str, Any]
    degraded: list[str]
    response: dict[str, Any]
    rescore_input: dict[str, Any] | None


@dataclass(frozen=True)
class PendingRescore:
    conversation_id: str
    user_id: str
    agent_id: str
    score_delta: int
    degraded: list[str]
    rescore_input: dict[str, Any]

    @property
    def key(self) -> ConversationKey:
        return ConversationKey(self.user_id, self.agent_id, self.conversation_id)


class FriendshipUnitOfWork(Protocol):
    """One transaction on the friendship store; commit() makes it durable."""

    async def stored_response(self, key: ConversationKey) -> dict[str, Any] | None: ...
    async def lock_friendship(self, user_id: str, agent_id: str) -> Friendship: ...
    async def save_friendship(self, friendship: Friendship, now: datetime) -> None: ...
    async def save_topic_metrics(
        self, user_id: str, agent_id: str, metrics: Sequence[TopicMetric]
    ) -> None: ...
    async def add_conversation(self, record: ConversationRecord) -> None: ...
    async def add_event(self, event: dict[str, Any]) -> None: ...
    async def mark_rescored(
        self, key: ConversationKey, correction: int, analysis: dict[str, Any], now: datetime
    ) -> bool:
        """Mark a pending conversation re-scored; False when it was not pending any more."""
        ...

    async def save_summary(
        self, user_id: str, agent_id: str, summary: str, now: datetime
    ) -> None: ...
    async def commit(self) -> None: ...


class FriendshipStore(Protocol):
    """Reads and transactions on friendships (the repository + unit-of-work factory)."""

    def transaction(self) -> AbstractAsyncContextManager[FriendshipUnitOfWork]: ...
    async def stored_response(self, key: ConversationKey) -> dict[str, Any] | None: ...
    async def get_friendship(self, user_id: str, agent_id: str) -> Friendship | None: ...
    async def ping(self) -> None: ...


DecayRule = Callable[[int, datetime], DecayOutcome]


class NightlyStore(FriendshipStore, Protocol):
    """What the nightly job reads and writes, in batches."""

    async def decay_batch(self, now: datetime, batch_size: int, rule: DecayRule) -> int:
        """Decay up to ``batch_size`` due friendships in one transaction; return how many."""
        ...

    async def active_since(self, since: datetime) -> list[Friendship]: ...
    async def pending_rescores(self, limit: int) -> list[PendingRescore]: ...


class EventPublisher(Protocol):
    """Publishes an event now (inline mode, no outbox); raises BrokerUnavailable."""

    async def publish(self, event: dict[str, Any]) -> None: ...


class AlertSink(Protocol):
    def alert(
        self, level: str, title: str, message: str, conversation_id: str | None = None
    ) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
