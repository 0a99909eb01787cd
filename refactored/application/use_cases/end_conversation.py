"""End a conversation: analyse it, score it, store everything in one transaction.

Business rules (docs/scoring.md, docs/conventions.md §4):
- idempotent per owner, by (``user_id``, ``agent_id``, ``conversation_id``): a replay
  returns the stored response unchanged; another owner's conversation with the same id
  is its own (scored, stored, answered with its own result);
- the three LLM analyses and the Memory API call run concurrently; a failed
  part takes its fallback and is named in ``degraded`` (when fallbacks are on);
- score, topic metrics, the conversation record and the outbox event are
  written in one transaction, under a row lock on the friendship (no lost update);
- a conversation scored with an LLM fallback is marked for a nightly re-score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from refactored.application.analysis import FallbackHook, analyse_conversation
from refactored.application.errors import BrokerUnavailable, DuplicateConversation
from refactored.application.events import iso, score_updated_event
from refactored.application.ports import (
    Clock,
    ConversationAnalyzer,
    ConversationKey,
    ConversationRecord,
    EventPublisher,
    Friendship,
    FriendshipStore,
    MemoryStore,
    Message,
)
from refactored.domain.analysis import LLM_FIELDS
from refactored.domain.model import FriendshipState
from refactored.domain.scoring import score_conversation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndConversationCommand:
    conversation_id: str
    user_id: str
    agent_id: str
    started_at: datetime
    ended_at: datetime
    messages: Sequence[Message]

    @property
    def key(self) -> ConversationKey:
        return ConversationKey(self.user_id, self.agent_id, self.conversation_id)


def state_to_json(state: FriendshipState) -> dict[str, Any]:
    return {
        "score": state.score,
        "last_interaction_at": iso(state.last_interaction_at)
        if state.last_interaction_at
        else None,
        "topics": {
            t: {
                "mentions": m.mentions,
                "positive": m.positive,
                "negative": m.negative,
                "last_seen": iso(m.last_seen),
            }
            for t, m in state.topic_metrics.items()
        },
    }


@dataclass
class EndConversation:
    store: FriendshipStore
    analyzer: ConversationAnalyzer
    memory: MemoryStore
    clock: Clock
    fallbacks: bool = True
    outbox: bool = True
    publisher: EventPublisher | None = None
    on_fallback: FallbackHook | None = None

    async def __call__(self, cmd: EndConversationCommand) -> dict[str, Any]:
        stored = await self.store.stored_response(cmd.key)
        if stored is not None:
            return stored
        result = await analyse_conversation(
            self.analyzer,
            self.memory,
            cmd.user_id,
            cmd.agent_id,
            cmd.messages,
            fallbacks=self.fallbacks,
            on_fallback=self.on_fallback,
        )
        user_messages = sum(1 for m in cmd.messages if m.role == "user")
        try:
            response, event = await self._store(cmd, result, user_messages)
        except DuplicateConversation:
            winner = await self.store.stored_response(cmd.key)
            if winner is None:  # the winner rolled back after all: a real conflict
                raise
            return winner
        if event is not None:
            await self._publish_inline(event)
        return response

    async def _store(
        self, cmd: EndConversationCommand, result: Any, user_messages: int
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        async with self.store.transaction() as uow:
            friendship = await uow.lock_friendship(cmd.user_id, cmd.agent_id)
            # A duplicate that waited on the row lock sees the winner's commit here.
            stored = await uow.stored_response(cmd.key)
            if stored is not None:
                return stored, None
            prior = friendship.state()
            outcome = score_conversation(prior, result.analysis, user_messages, cmd.ended_at)
            response = {
                "conversation_id": cmd.conversation_id,
                "user_id": cmd.user_id,
                "agent_id": cmd.agent_id,
                "friendship_score": outcome.score,
                "friendship_level": outcome.level,
                "score_delta": outcome.score_delta,
                "emotion": result.analysis.emotion,
                "user_questions": result.analysis.user_questions,
                "topics": list(result.analysis.topics),
                "degraded": list(result.degraded),
            }
            now = self.clock.now()
            await uow.save_friendship(
                Friendship(
                    cmd.user_id,
                    cmd.agent_id,
                    outcome.score,
                    outcome.level,
                    outcome.last_interaction_at,
                    friendship.last_decay_date,
                    friendship.summary,
                    outcome.topic_metrics,
                ),
                now,
            )
            changed = [outcome.topic_metrics[t] for t in result.analysis.topics]
            await uow.save_topic_metrics(cmd.user_id, cmd.agent_id, changed)
            await uow.add_conversation(
                self._record(cmd, result, user_messages, outcome.score_delta, response, prior)
            )
            event = score_updated_event(
                conversation_id=cmd.conversation_id,
                user_id=cmd.user_id,
                agent_id=cmd.agent_id,
                friendship_score=outcome.score,
                friendship_level=outcome.level,
                score_delta=outcome.score_delta,
                occurred_at=now,
            )
            if self.outbox:
                await uow.add_event(event)
            await uow.commit()
        return response, (None if self.outbox else event)

    def _record(
        self,
        cmd: EndConversationCommand,
        result: Any,
        user_messages: int,
        delta: int,
        response: dict[str, Any],
        prior: FriendshipState,
    ) -> ConversationRecord:
        rescore_input = None
        if LLM_FIELDS.intersection(result.degraded):
            rescore_input = {
                "messages": [
                    {"role": m.role, "content": m.content, "ts": iso(m.ts)} for m in cmd.messages
                ],
                "prior": state_to_json(prior),
                "ended_at": iso(cmd.ended_at),
                "user_message_count": user_messages,
                "known": result.known,
            }
        return ConversationRecord(
            conversation_id=cmd.conversation_id,
            user_id=cmd.user_id,
            agent_id=cmd.agent_id,
            started_at=cmd.started_at,
            ended_at=cmd.ended_at,
            score_delta=delta,
            analysis={
                "emotion": result.analysis.emotion,
                "user_questions": result.analysis.user_questions,
                "topics": list(result.analysis.topics),
                "user_message_count": user_messages,
            },
            degraded=list(result.degraded),
            response=response,
            rescore_input=rescore_input,
        )

    async def _publish_inline(self, event: dict[str, Any]) -> None:
        """Outbox disabled: publish after commit, the legacy way; a broker error loses it."""
        if self.publisher is None:
            return
        try:
            await self.publisher.publish(event)
        except BrokerUnavailable as exc:
            log.error(
                "event lost: broker unavailable",
                extra={"event_id": event["event_id"], "error": str(exc)},
            )
