"""Read the stored status of one friendship (404 when none)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from refactored.application.errors import NotFound
from refactored.application.events import iso
from refactored.application.ports import FriendshipStore


@dataclass
class GetFriendship:
    store: FriendshipStore

    async def __call__(self, user_id: str, agent_id: str) -> dict[str, Any]:
        friendship = await self.store.get_friendship(user_id, agent_id)
        if friendship is None:
            raise NotFound("friendship not found")
        last = friendship.last_interaction_at
        return {
            "user_id": friendship.user_id,
            "agent_id": friendship.agent_id,
            "friendship_score": friendship.score,
            "friendship_level": friendship.level,
            "last_interaction_at": iso(last) if last else None,
            "last_decay_date": friendship.last_decay_date.isoformat()
            if friendship.last_decay_date
            else None,
            "summary": friendship.summary,
            "topics": [
                {
                    "topic": m.topic,
                    "mentions": m.mentions,
                    "positive": m.positive,
                    "negative": m.negative,
                    "last_seen": iso(m.last_seen),
                }
                for _, m in sorted(friendship.topic_metrics.items())
            ],
        }
