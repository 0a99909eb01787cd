"""Suggest activities for a friendship.

Rules (docs/conventions.md §4): a missing friendship is a stranger with score 0 and no
topics; the LLM gets the friendship's top topics; a failed call or zero valid
items answers the first ``limit`` fallback activities with ``source: fallback``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from refactored.application.analysis import FallbackHook
from refactored.application.errors import DependencyUnavailable
from refactored.application.ports import ConversationAnalyzer, FriendshipStore
from refactored.domain.analysis import FALLBACK_ACTIVITIES, top_topics
from refactored.domain.model import Level


@dataclass
class SuggestActivities:
    store: FriendshipStore
    analyzer: ConversationAnalyzer
    fallbacks: bool = True
    on_fallback: FallbackHook | None = None

    async def __call__(self, user_id: str, agent_id: str, limit: int) -> dict[str, Any]:
        friendship = await self.store.get_friendship(user_id, agent_id)
        context = {
            "user_id": user_id,
            "agent_id": agent_id,
            "friendship_level": friendship.level if friendship else Level.STRANGER.value,
            "friendship_score": friendship.score if friendship else 0,
            "topics": top_topics({t: m.mentions for t, m in friendship.topic_metrics.items()})
            if friendship
            else [],
            "limit": limit,
        }
        try:
            activities = await self.analyzer.activities(context, limit)
            source = "llm"
        except DependencyUnavailable:
            if not self.fallbacks:
                raise
            if self.on_fallback is not None:
                self.on_fallback("activities")
            activities, source = FALLBACK_ACTIVITIES[:limit], "fallback"
        return {
            "activities": [{"title": a.title, "reason": a.reason} for a in activities[:limit]],
            "source": source,
        }
