"""The nightly job: decay inactive friendships, refresh summaries of active ones.

Legacy bugs kept: it runs inside the web process (APScheduler thread, or inline in
the admin request, blocking the event loop); a 20-thread pool opens one NEW
connection per friendship from the app's own pool and holds it during the LLM
summary call, so a night with many active users exhausts the pool the requests need.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from legacy.config import Settings
from legacy.services.friendship_queries import load_friendship, top_topics
from legacy.services.friendship_service import DECAY_AFTER, compute_decay
from legacy.services.llm_analysis_utils import iso, summarize_relationship

logger = logging.getLogger("legacy.nightly")

NIGHTLY_WORKERS = 20


def _decay_one(engine: Engine, user_id: str, agent_id: str, now: datetime) -> bool:
    with engine.connect() as conn:
        key = {"u": user_id, "a": agent_id}
        row = conn.execute(
            text(
                "SELECT score, last_interaction_at, last_decay_date FROM friendships "
                "WHERE user_id = :u AND agent_id = :a FOR UPDATE"
            ),
            key,
        ).first()
        if row is None:
            return False
        decay = compute_decay(dict(row._mapping), now)
        if not decay["decay_due"]:
            conn.rollback()
            return False
        conn.execute(
            text(
                "UPDATE friendships SET score = :s, level = :l, last_decay_date = :d, "
                "updated_at = now() WHERE user_id = :u AND agent_id = :a"
            ),
            {**key, "s": decay["score"], "l": decay["level"], "d": decay["last_decay_date"]},
        )
        conn.commit()
        return True


def _refresh_summary_one(
    engine: Engine, settings: Settings, user_id: str, agent_id: str, now: datetime
) -> bool:
    with engine.connect() as conn:  # held during the LLM call: the pool-exhaustion bug
        friendship = load_friendship(conn, user_id, agent_id)
        if friendship is None:
            return False
        summary = summarize_relationship(
            settings,
            {
                "user_id": user_id,
                "agent_id": agent_id,
                "friendship_level": friendship["level"],
                "friendship_score": friendship["score"],
                "topics": top_topics(friendship),
                "previous_summary": friendship["summary"],
            },
        )
        if summary is None:
            conn.rollback()
            return False
        conn.execute(
            text(
                "UPDATE friendships SET summary = :s, summary_updated_at = :now "
                "WHERE user_id = :u AND agent_id = :a"
            ),
            {"s": summary, "now": now, "u": user_id, "a": agent_id},
        )
        conn.commit()
        return True


def run_nightly_job(engine: Engine, settings: Settings, now: datetime | None = None) -> dict:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    with engine.connect() as conn:
        to_decay = conn.execute(
            text(
                "SELECT user_id, agent_id FROM friendships WHERE last_interaction_at <= :cutoff "
                "AND last_decay_date IS DISTINCT FROM :today"
            ),
            {"cutoff": now - DECAY_AFTER, "today": now.date()},
        ).all()
        to_summarise = conn.execute(
            text("SELECT user_id, agent_id FROM friendships WHERE last_interaction_at >= :since"),
            {"since": now - timedelta(hours=24)},
        ).all()
    with ThreadPoolExecutor(max_workers=NIGHTLY_WORKERS) as pool:
        decayed = list(pool.map(lambda r: _decay_one(engine, r[0], r[1], now), to_decay))
    with ThreadPoolExecutor(max_workers=NIGHTLY_WORKERS) as pool:
        refreshed = list(
            pool.map(
                lambda r: _refresh_summary_one(engine, settings, r[0], r[1], now), to_summarise
            )
        )
    result: dict[str, Any] = {
        "now": iso(now),
        "decayed": sum(decayed),
        "summaries_refreshed": sum(refreshed),
        "summaries_failed": len(refreshed) - sum(refreshed),
        "rescored": 0,
    }
    logger.info("nightly job done: %s", result)
    return result
