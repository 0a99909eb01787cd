"""The nightly job: decay inactive friendships, re-score degraded conversations, refresh summaries.

Rules (docs/scoring.md, docs/conventions.md §4):
- decay: friendships inactive for 72 h and not yet decayed on ``now``'s date lose
  ``max(1, score // 100)`` points (while above 0); idempotent per day; no events;
- re-score: a conversation scored with an LLM fallback is analysed again; when the
  LLM answers, the difference to the score it should have had is applied once
  (``score_correction``) and a ``reason: rescore`` event is emitted; while the
  LLM still fails it stays pending;
- summaries: friendships active in the last 24 h get a fresh LLM summary; on
  failure the old one stays and ``summaries_failed`` counts it.

With the ``job_bulkhead`` policy the job runs in batches on its own small pool,
``concurrency`` tasks at a time, and never holds a connection while waiting on
the LLM. Without it, it behaves like legacy: one task per friendship, all at
once, each holding a request-pool connection for the whole LLM call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from refactored.application.analysis import analyse_conversation
from refactored.application.errors import DependencyUnavailable
from refactored.application.events import iso, score_updated_event
from refactored.application.ports import (
    Clock,
    ConversationAnalyzer,
    EventPublisher,
    Friendship,
    Message,
    NightlyStore,
    PendingRescore,
)
from refactored.domain.analysis import top_topics
from refactored.domain.model import Analysis, FriendshipState, TopicMetric
from refactored.domain.scoring import (
    clamp,
    decay_friendship,
    level_for_score,
    score_conversation,
    updated_topic_metrics,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
ACTIVE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class NightlyReport:
    now: datetime
    decayed: int = 0
    summaries_refreshed: int = 0
    summaries_failed: int = 0
    rescored: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "now": iso(self.now),
            "decayed": self.decayed,
            "summaries_refreshed": self.summaries_refreshed,
            "summaries_failed": self.summaries_failed,
            "rescored": self.rescored,
        }


async def run_bounded(
    items: Iterable[T], work: Callable[[T], Awaitable[bool]], concurrency: int | None
) -> list[bool]:
    """Run ``work`` over ``items``; at most ``concurrency`` at once (None: all at once).

    A TaskGroup, so one failure cancels the rest (no task left holding a
    connection after the job gave up); the first error is re-raised as is.
    """
    semaphore = asyncio.Semaphore(concurrency) if concurrency is not None else None

    async def one(item: T) -> bool:
        if semaphore is None:
            return await work(item)
        async with semaphore:
            return await work(item)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(item)) for item in items]
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None
    return [task.result() for task in tasks]


def _state_from_json(data: dict[str, Any]) -> FriendshipState:
    last = data.get("last_interaction_at")
    return FriendshipState(
        score=data["score"],
        topic_metrics={
            t: TopicMetric(
                t,
                m["mentions"],
                m["positive"],
                m["negative"],
                datetime.fromisoformat(m["last_seen"]),
            )
            for t, m in data.get("topics", {}).items()
        },
        last_interaction_at=datetime.fromisoformat(last) if last else None,
    )


@dataclass
class NightlyJob:
    store: NightlyStore
    analyzer: ConversationAnalyzer
    clock: Clock
    bulkhead: bool = True
    concurrency: int = 4
    batch_size: int = 100
    outbox: bool = True
    publisher: EventPublisher | None = None

    async def __call__(self, now: datetime | None = None) -> NightlyReport:
        now = now or self.clock.now()
        decayed = await self._decay(now)
        rescored = await self._rescore(now)
        refreshed, failed = await self._summaries(now)
        report = NightlyReport(now, decayed, refreshed, failed, rescored)
        log.info("nightly job done", extra=report.as_json())
        return report

    @property
    def _limit(self) -> int | None:
        return self.concurrency if self.bulkhead else None

    async def _decay(self, now: datetime) -> int:
        total = 0
        while True:
            done = await self.store.decay_batch(now, self.batch_size, decay_friendship)
            total += done
            if done < self.batch_size:
                return total

    async def _summaries(self, now: datetime) -> tuple[int, int]:
        friendships = await self.store.active_since(now - ACTIVE_WINDOW)
        refresh = self._refresh_summary if self.bulkhead else self._refresh_summary_holding
        outcomes = await run_bounded(friendships, lambda f: refresh(f, now), self._limit)
        refreshed = sum(outcomes)
        return refreshed, len(outcomes) - refreshed

    def _summary_context(self, f: Friendship) -> dict[str, Any]:
        return {
            "user_id": f.user_id,
            "agent_id": f.agent_id,
            "friendship_level": f.level,
            "friendship_score": f.score,
            "topics": top_topics({t: m.mentions for t, m in f.topic_metrics.items()}),
            "previous_summary": f.summary,
        }

    async def _refresh_summary(self, f: Friendship, now: datetime) -> bool:
        try:
            summary = await self.analyzer.summary(self._summary_context(f))
        except DependencyUnavailable:
            return False
        async with self.store.transaction() as uow:
            await uow.save_summary(f.user_id, f.agent_id, summary, now)
            await uow.commit()
        return True

    async def _refresh_summary_holding(self, f: Friendship, now: datetime) -> bool:
        """job_bulkhead disabled: the legacy shape, a connection held across the LLM call."""
        async with self.store.transaction() as uow:
            await uow.lock_friendship(f.user_id, f.agent_id)
            try:
                summary = await self.analyzer.summary(self._summary_context(f))
            except DependencyUnavailable:
                return False
            await uow.save_summary(f.user_id, f.agent_id, summary, now)
            await uow.commit()
        return True

    async def _rescore(self, now: datetime) -> int:
        total = 0
        while True:
            pending = await self.store.pending_rescores(self.batch_size)
            outcomes = await run_bounded(pending, lambda p: self._rescore_one(p, now), self._limit)
            total += sum(outcomes)
            # Stop when nothing is left or the LLM still fails (the rest stays pending).
            if len(pending) < self.batch_size or not all(outcomes):
                return total

    async def _rescore_one(self, pending: PendingRescore, now: datetime) -> bool:
        data = pending.rescore_input
        known: dict[str, Any] = dict(data.get("known", {}))
        missing = [f for f in ("emotion", "questions", "topics") if f not in known]
        messages = [_message(m) for m in data["messages"]]
        try:
            result = await analyse_conversation(
                self.analyzer,
                None,
                pending.user_id,
                pending.agent_id,
                messages,
                fallbacks=False,
                only=missing,
            )
        except DependencyUnavailable:
            return False
        known.update(result.known)
        analysis = Analysis(known["emotion"], known["questions"], tuple(known["topics"]))
        ended_at = datetime.fromisoformat(data["ended_at"])
        prior = _state_from_json(data["prior"])
        correct = score_conversation(prior, analysis, data["user_message_count"], ended_at)
        correction = correct.score_delta - pending.score_delta
        return await self._apply_correction(pending, analysis, correction, ended_at, now)

    async def _apply_correction(
        self,
        pending: PendingRescore,
        analysis: Analysis,
        correction: int,
        ended_at: datetime,
        now: datetime,
    ) -> bool:
        event = None
        async with self.store.transaction() as uow:
            f = await uow.lock_friendship(pending.user_id, pending.agent_id)
            stored_analysis = {
                "emotion": analysis.emotion,
                "user_questions": analysis.user_questions,
                "topics": list(analysis.topics),
            }
            if not await uow.mark_rescored(pending.key, correction, stored_analysis, now):
                return False  # another run re-scored it first: applied once
            score = clamp(f.score + correction, 0, 1000)
            metrics = f.topic_metrics
            if "topics" in pending.degraded:
                metrics = updated_topic_metrics(metrics, analysis, ended_at)
                await uow.save_topic_metrics(
                    f.user_id, f.agent_id, [metrics[t] for t in analysis.topics]
                )
            await uow.save_friendship(
                Friendship(
                    f.user_id,
                    f.agent_id,
                    score,
                    level_for_score(score),
                    f.last_interaction_at,
                    f.last_decay_date,
                    f.summary,
                    metrics,
                ),
                now,
            )
            event = score_updated_event(
                conversation_id=pending.conversation_id,
                user_id=f.user_id,
                agent_id=f.agent_id,
                friendship_score=score,
                friendship_level=level_for_score(score),
                score_delta=correction,
                occurred_at=now,
                reason="rescore",
            )
            if self.outbox:
                await uow.add_event(event)
            await uow.commit()
        if not self.outbox and self.publisher is not None:
            try:
                await self.publisher.publish(event)
            except Exception:  # inline publishing loses the event, like legacy
                log.exception("rescore event lost")
        return True


def _message(raw: dict[str, Any]) -> Message:
    return Message(raw["role"], raw["content"], datetime.fromisoformat(raw["ts"]))
