"""What the scenarios read after (and around) the load: metrics, fakes' counters, alerts,
and the database itself (integrity: lost, duplicated or half-written updates)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import httpx

from testbed.metrics import Samples, parse_metrics

if TYPE_CHECKING:
    from chaos.scenarios.context import ScenarioContext
    from chaos.scenarios.measurements import Measurements


async def scrape_metrics(ctx: ScenarioContext) -> Samples:
    """The target's /metrics, or {} when it has none (legacy) or it cannot be read."""
    url = ctx.endpoints.metrics_url
    if not url:
        return {}
    try:
        response = await ctx.http.get(url, timeout=5.0)
    except httpx.HTTPError as exc:
        ctx.notes.append(f"metrics not readable at {url}: {type(exc).__name__}")
        return {}
    if response.status_code != 200:
        ctx.notes.append(f"metrics at {url} answered {response.status_code}")
        return {}
    return parse_metrics(response.text)


FAKE_SAMPLE_S = 0.2  # how often the fakes' counters are read while a scenario runs
SAMPLED_FAKES = ("llm", "memory")


async def sample_fakes(
    ctx: ScenarioContext,
    series: dict[str, list[tuple[float, dict[str, Any]]]],
    stop: asyncio.Event,
    every_s: float = FAKE_SAMPLE_S,
) -> None:
    """Read the fakes' counters every ``every_s`` on the scenario clock until ``stop``
    (and once more then): what reached each dependency, and when, seen from outside the
    target, the same way on both targets."""
    while True:
        for kind in SAMPLED_FAKES:
            if kind not in ctx.endpoints.fakes:
                continue
            with contextlib.suppress(httpx.HTTPError):
                stats = await ctx.fake(kind).stats()
                series.setdefault(kind, []).append((round(ctx.now(), 3), stats))
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def collect(ctx: ScenarioContext, m: Measurements, *, agent_id: str) -> None:
    """Fill ``m`` with everything measured after the load (fakes, metrics, alerts, DB)."""
    with contextlib.suppress(httpx.HTTPError):
        m.llm_stats = await ctx.fake("llm").stats()
    try:
        m.cards = await ctx.fake("webhook").cards()
    except httpx.HTTPError as exc:
        ctx.notes.append(f"webhook cards not readable: {type(exc).__name__}")
    m.metrics_after = await scrape_metrics(ctx)
    answered_ok = sorted(
        {s.conversation_id for s in m.samples if s.conversation_id and s.status == 200}
    )
    try:
        m.integrity = await integrity(ctx.endpoints.database_url, agent_id, answered_ok)
    except Exception as exc:  # the report must say why integrity is missing, not crash the run
        ctx.notes.append(f"integrity check failed: {exc!r}")


# Every friendship of the scenario's agent compared with its processed conversations.
# The load's conversations never score below zero (chaos.messages), so a stored score must
# equal min(1000, sum of deltas (+ any rescore correction)); less is a lost update, more a
# duplicated one. A friendship with no processed conversation but a score, or a processed
# conversation without its friendship, is half-written.
_SCORES_SQL = """
with p as (
    select user_id, agent_id,
           sum(score_delta + coalesce(score_correction, 0)) as total, count(*) as n
    from processed_conversations where agent_id = $1 group by user_id, agent_id
)
select
    count(*) filter (where f.user_id is not null and p.user_id is not null
                     and f.score < least(p.total, 1000)) as lost,
    count(*) filter (where f.user_id is not null and p.user_id is not null
                     and f.score > least(p.total, 1000)) as duplicated,
    count(*) filter (where f.user_id is null) as processed_without_friendship,
    count(*) filter (where p.user_id is null and f.score > 0) as friendship_without_processed,
    coalesce(sum(p.n), 0) as processed,
    count(f.user_id) as friendships
from p full join (select * from friendships where agent_id = $1) f
    on f.user_id = p.user_id and f.agent_id = p.agent_id
"""

# topic_metrics.mentions must equal the number of processed conversations naming the topic.
_TOPICS_SQL = """
with expected as (
    select pc.user_id, pc.agent_id, t.topic, count(*) as n
    from processed_conversations pc,
         jsonb_array_elements_text(pc.analysis -> 'topics') as t(topic)
    where pc.agent_id = $1
    group by pc.user_id, pc.agent_id, t.topic
)
select count(*) from expected e
full join (select * from topic_metrics where agent_id = $1) tm
    on tm.user_id = e.user_id and tm.agent_id = e.agent_id and tm.topic = e.topic
where coalesce(e.n, 0) <> coalesce(tm.mentions, 0)
"""


async def integrity(database_url: str, agent_id: str, answered_ok: list[str]) -> dict[str, Any]:
    """Lost / duplicated / half-written updates of one scenario (its agent id) in the DB."""
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_url(database_url), timeout=10)
    try:
        row = await conn.fetchrow(_SCORES_SQL, agent_id)
        topic_mismatches = await conn.fetchval(_TOPICS_SQL, agent_id)
        stored = await conn.fetch(
            "select conversation_id from processed_conversations where conversation_id = any($1)",
            answered_ok,
        )
    finally:
        await conn.close()
    acknowledged_missing = len(answered_ok) - len(stored)
    half_written = int(row["processed_without_friendship"]) + int(
        row["friendship_without_processed"]
    )
    return {
        "lost_updates": int(row["lost"]) + acknowledged_missing,
        "duplicated_updates": int(row["duplicated"]),
        "half_written": half_written,
        "topic_mismatches": int(topic_mismatches or 0),
        "acknowledged_missing": acknowledged_missing,
        "processed_conversations": int(row["processed"]),
        "friendships": int(row["friendships"]),
    }


async def failed_analysis_tasks(database_url: str, agent_id: str) -> int:
    """Analysis tasks (emotion, questions, topics) that ended in their fallback, summed over
    the agent's processed conversations (the ``degraded`` column names them)."""
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_url(database_url), timeout=10)
    try:
        value = await conn.fetchval(
            "select count(*) from processed_conversations pc,"
            " jsonb_array_elements_text(pc.degraded) as d(name)"
            " where pc.agent_id = $1 and d.name in ('emotion', 'questions', 'topics')",
            agent_id,
        )
    finally:
        await conn.close()
    return int(value or 0)


def _asyncpg_url(url: str) -> str:
    # accept SQLAlchemy-style URLs too
    for driver in ("+asyncpg", "+psycopg2", "+psycopg"):
        url = url.replace(f"postgresql{driver}://", "postgresql://")
    return url
