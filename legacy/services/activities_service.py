"""Activity suggestions: the LLM's when it answers, else the fixed fallback list."""

from __future__ import annotations

from typing import Any

from legacy.config import Settings
from legacy.services.friendship_queries import top_topics
from legacy.services.llm_analysis_utils import suggest_activities_llm

FALLBACK_ACTIVITIES = [
    {"title": title, "reason": reason}
    for title, reason in (
        line.split(" — ", 1)
        for line in (
            "Share your favourite song — Music is an easy way to get to know each other.",
            "Plan a virtual coffee chat — A relaxed talk helps you connect.",
            "Swap book recommendations — Books reveal what matters to you.",
            "Cook the same recipe — Doing something together builds closeness.",
            "Take a short walk and share a photo — Small moments make good conversation.",
            "Play a quick word game — Playing together is a light way to bond.",
            "Talk about a favourite movie — Stories you love say a lot about you.",
            "Set a small weekly goal together — Encouragement strengthens friendship.",
            "Share a childhood memory — Memories build trust.",
            "Plan a dream trip — Dreaming together is fun.",
        )
    )
]


def suggest_activities(
    settings: Settings, user_id: str, agent_id: str, limit: int, friendship: dict[str, Any] | None
) -> dict[str, Any]:
    """A missing friendship is a stranger with score 0 and no topics (not an error)."""
    context = {
        "user_id": user_id,
        "agent_id": agent_id,
        "friendship_level": friendship["level"] if friendship else "stranger",
        "friendship_score": friendship["score"] if friendship else 0,
        "topics": top_topics(friendship),
        "limit": limit,
    }
    activities = suggest_activities_llm(settings, context, limit)
    if activities:
        return {"activities": activities, "source": "llm"}
    return {"activities": [dict(a) for a in FALLBACK_ACTIVITIES[:limit]], "source": "fallback"}
