"""idempotency_per_owner: two users send one conversation id (issue 11, docs/conventions.md §4).

Not an infrastructure fault: hostile-looking but ordinary traffic, during background load.
At the window's start four owners of the scenario's agent end conversations whose ids
collide: alice then bob send one id in turn; carol and dave send another at the same
moment (the two workers race). Each owner then replays its id with a changed body, and
its friendship is read (``GET /v1/friendships/{user}/{agent}``) and its rows counted in
``processed_conversations``.

Expectations, the same on both targets:

- refactored (idempotency keyed on user_id, agent_id, conversation_id): every answer
  names the owner who sent it, each owner is stored exactly once and its friendship
  scored with its own delta, and each replay answers that owner's own stored result;
- legacy (conversation_id alone, a kept bug): bob and the race's loser get another
  owner's answer (their user id, score, emotion, topics), twice each (first and replay),
  are never stored nor scored, and their friendship reads 404 — 4 foreign answers,
  2 owners not scored once, 2 replays and 2 friendships not their own: expected to fail.

The integrity checks (every friendship of the agent equal to its stored deltas) hold on
both: legacy's bug loses a conversation, not half of one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import httpx

from chaos.load_plan import LoadPlan, poller_address, standard_clients
from chaos.loadgen import LoadGenerator
from chaos.measure import _asyncpg_url
from chaos.messages import conversation_body
from chaos.scenarios.checks import integrity_expectations, sanity_load
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation

# (owner, which shared id): alice and bob in turn, carol and dave at once
OWNERS: tuple[tuple[str, str], ...] = (
    ("alice", "turn"),
    ("bob", "turn"),
    ("carol", "race"),
    ("dave", "race"),
)
PROBE_ADDRESS = poller_address(40)  # its own source address: its own rate-limit bucket
WINDOW = "shared_conversation_id"
_ROWS_SQL = (
    "select user_id, agent_id, conversation_id, count(*) as n from processed_conversations "
    "where agent_id = $1 and conversation_id = any($2::text[]) "
    "group by user_id, agent_id, conversation_id"
)


def _answer(response: httpx.Response) -> dict[str, Any]:
    body = response.json() if response.headers.get("content-type", "").startswith("app") else {}
    return {"status": response.status_code, "body": body if isinstance(body, dict) else {}}


async def probe(ctx: ScenarioContext, gen: LoadGenerator) -> list[dict[str, Any]]:
    """Send the colliding conversations, replay them, read back; one record per owner."""
    async with gen.http_client(PROBE_ADDRESS) as http:
        owners = await _send(ctx, http, gen.agent_id())
    conn = await asyncpg.connect(_asyncpg_url(ctx.endpoints.database_url), timeout=10)
    try:
        ids = sorted({o["conversation_id"] for o in owners})
        rows = await conn.fetch(_ROWS_SQL, gen.agent_id(), ids)
    finally:
        await conn.close()
    stored = {(r["user_id"], r["conversation_id"]): int(r["n"]) for r in rows}
    for owner in owners:
        owner["stored_rows"] = stored.get((owner["user"], owner["conversation_id"]), 0)
    return owners


async def _send(ctx: ScenarioContext, http: httpx.AsyncClient, agent: str) -> list[dict[str, Any]]:
    owners: list[dict[str, Any]] = [
        {"user": f"{ctx.prefix}-{name}", "conversation_id": f"{ctx.prefix}-{shared}"}
        for name, shared in OWNERS
    ]

    async def end(owner: dict[str, Any], seed: int) -> dict[str, Any]:
        rng = random.Random(seed)
        body = conversation_body(rng, owner["conversation_id"], owner["user"], agent)
        return _answer(await http.post("/v1/conversations/end", json=body))

    alice, bob, carol, dave = owners
    alice["first"] = await end(alice, 1)
    bob["first"] = await end(bob, 2)
    carol["first"], dave["first"] = await asyncio.gather(end(carol, 3), end(dave, 4))
    for seed, owner in enumerate(owners, start=101):  # a changed body: the key decides
        owner["replay"] = await end(owner, seed)
    for owner in owners:
        owner["friendship"] = _answer(await http.get(f"/v1/friendships/{owner['user']}/{agent}"))
    return owners


def outcomes(owners: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """What the probe showed, counted (pure: the unit tests feed it records)."""

    def own(answer: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
        return answer["body"].get("user_id") == owner["user"]

    answers = [(o[k], o) for o in owners for k in ("first", "replay")]
    return {
        "owners": len(owners),
        "answered_200": sum(1 for a, _ in answers if a["status"] == 200),
        "answers": len(answers),
        "foreign_answers": sum(1 for a, o in answers if a["status"] == 200 and not own(a, o)),
        "not_scored_once": sum(1 for o in owners if o["stored_rows"] != 1),
        "replays_not_own": sum(
            1
            for o in owners
            if o["replay"]["body"] != o["first"]["body"] or not own(o["replay"], o)
        ),
        "friendships_not_own": sum(
            1
            for o in owners
            if o["friendship"]["status"] != 200
            or not own(o["first"], o)
            or o["friendship"]["body"].get("friendship_score")
            != o["first"]["body"].get("friendship_score")
        ),
    }


class IdempotencyPerOwner(Scenario):
    name = "idempotency_per_owner"
    description = (
        "two users send one conversation id (in turn and racing): refactored scores each "
        "as its own and replays answer each owner's own result; legacy answers the second "
        "user with the first user's stored result and never scores it"
    )
    restart_after = ()  # no breaker, no limiter window to speak of: a dozen requests

    def __init__(self) -> None:
        self._probes: dict[str, list[dict[str, Any]]] = {}
        self._windows: dict[str, tuple[float, float]] = {}

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=4.0, recovery_s=1.0)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        return []

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(3))

    async def during_load(self, ctx: ScenarioContext, gen: LoadGenerator) -> None:
        await asyncio.sleep(max(0.0, self.timeline(ctx).fault_start_s - ctx.now()))
        start = ctx.now()
        self._probes[ctx.prefix] = await probe(ctx, gen)
        self._windows[ctx.prefix] = (start, ctx.now())

    async def finish(self, ctx: ScenarioContext, m: Measurements) -> None:
        owners = self._probes.pop(ctx.prefix, [])
        start, end = self._windows.pop(ctx.prefix, (0.0, 0.0))
        m.windows.append({"label": WINDOW, "start_s": round(start, 3), "end_s": round(end, 3)})
        m.extra["owners"] = owners
        m.extra["owner_outcomes"] = outcomes(owners)

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        o = m.extra.get("owner_outcomes") or outcomes([])
        return [
            sanity_load(m, 5),
            Expectation.check(
                "probe_answered",
                "the colliding conversations, their replays: answered 200 (of 8)",
                o["answered_200"] if o["answers"] else None,
                "==",
                2 * len(OWNERS),
                role="sanity",
            ),
            Expectation.check(
                "foreign_answers",
                "answers (first or replay) naming another user than the one who sent them",
                o["foreign_answers"],
                "==",
                0,
            ),
            Expectation.check(
                "owners_not_scored_once",
                "owners whose conversation is not stored exactly once under their own key",
                o["not_scored_once"],
                "==",
                0,
            ),
            Expectation.check(
                "replays_not_own_result",
                "replays (changed body) not answering the owner's own stored result",
                o["replays_not_own"],
                "==",
                0,
            ),
            Expectation.check(
                "friendships_not_own",
                "owners whose GET /v1/friendships is not their own answer's score (404 included)",
                o["friendships_not_own"],
                "==",
                0,
            ),
            *integrity_expectations(m),
        ]


SCENARIO = IdempotencyPerOwner()
