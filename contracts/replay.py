"""Diffy-style replay: one seeded traffic sequence, sent to a service; responses + DB snapshots.

A sequence mixes several users/agents, repeated conversation_ids (same and changed
bodies), out-of-order ended_at, activity suggestions and friendship reads, and two
nightly runs at fixed clocks:

- phase 1 (70 %): conversations within 5 days of ``BASE``, a quarter of them in the
  24 h before the first nightly ``NIGHTLY_1`` (so it refreshes their summaries);
- ``POST /v1/admin/nightly`` at ``NIGHTLY_1``: decay of the friendships idle for 72 h,
  summaries of those active in the last 24 h;
- phase 2: conversations in the 60 h before ``NIGHTLY_2``, most within its last
  24 h (half of them on friendships already summarised at ``NIGHTLY_1``, so a
  summary is refreshed again or, under faults, kept), a few exactly 24 h and 72 h
  before it (the windows' edges, both inclusive);
- ``POST /v1/admin/nightly`` at ``NIGHTLY_2``: decay due for every friendship idle
  since phase 1, summaries of the recent ones.

A request may carry ``faults``: the fake LLM / Memory API faults in force while it
runs (:func:`fallback_schedule`). They travel with the request, so a minimised
subsequence replays with the same faults on the same requests.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from contracts.noise import DB_NOISE, RESPONSE_NOISE

ADMIN_TOKEN = "contract-admin-token"
BASE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
NIGHTLY_1 = BASE + timedelta(days=5, hours=12)
NIGHTLY_2 = BASE + timedelta(days=9, hours=3)
NIGHTLY_PATH = "/v1/admin/nightly"
END_PATH = "/v1/conversations/end"
ACTIVITIES_PATH = "/v1/activities/suggest"
PHRASES = (
    "I love this song?",
    "Tôi thích âm nhạc",
    "món ăn ngon quá",
    "let's travel",
    "công việc mệt quá",
    "my family is great",
    "học bài khó quá?",
    "buồn quá",
    "football tonight?",
    "hello",
    "cảm ơn bạn",
    "terrible day",
)
# primary keys of the compared tables (every row also names its friendship)
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "friendships": ("user_id", "agent_id"),
    "topic_metrics": ("user_id", "agent_id", "topic"),
    # DESIGN §4 (migration 0002): a conversation id is its owner's
    "processed_conversations": ("conversation_id", "user_id", "agent_id"),
}
Key = tuple[str, str]
State = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None
    # per fake ("llm", "memory"): the FaultConfig in force while this request runs;
    # None = leave the fakes' faults as they are ({} = no fault)
    faults: Mapping[str, Mapping[str, Any]] | None = None


@dataclass
class Replay:
    """What one target answered, its final DB state and its state before each nightly."""

    answers: list[dict[str, Any]]
    state: State
    before: dict[int, State] = field(default_factory=dict)  # request index -> state


def nightly(now: datetime) -> Request:
    return Request("POST", NIGHTLY_PATH, {"now": now.isoformat()})


def _minutes(rnd: random.Random, low: timedelta, high: timedelta) -> timedelta:
    """A whole number of minutes in [low, high]."""
    return timedelta(
        minutes=rnd.randint(int(low.total_seconds()) // 60, int(high.total_seconds()) // 60)
    )


def _early_end(rnd: random.Random) -> datetime:
    if rnd.random() < 0.25:  # active in the 24 h before the first nightly: summarised there
        return NIGHTLY_1 - _minutes(rnd, timedelta(minutes=1), timedelta(hours=24))
    # out of order on purpose: ended_at jumps back and forth within 5 days
    return BASE + _minutes(rnd, timedelta(0), timedelta(days=5))


def _recent_end(rnd: random.Random) -> datetime:
    kind = rnd.random()
    if kind < 0.05:
        return NIGHTLY_2 - timedelta(hours=24)  # the summary window's edge (inclusive)
    if kind < 0.10:
        return NIGHTLY_2 - timedelta(hours=72)  # the decay's edge (inclusive)
    if kind < 0.35:  # active, but neither summarised nor idle for 72 h
        return NIGHTLY_2 - _minutes(rnd, timedelta(hours=24, minutes=1), timedelta(hours=60))
    return NIGHTLY_2 - _minutes(rnd, timedelta(minutes=1), timedelta(hours=23, minutes=59))


def generate(seed: int, length: int) -> list[Request]:
    """``length`` requests (at least 3): phase 1, nightly 1, phase 2, nightly 2."""
    rnd = random.Random(seed)
    users, agents = ["u1", "u2", "u3"], ["a1", "a2"]
    sent: list[dict[str, Any]] = []
    out: list[Request] = []
    traffic = max(1, length - 2)
    phase_1 = max(1, traffic * 7 // 10)
    summarised_at_1: list[Key] = []  # friendships active in the 24 h before NIGHTLY_1
    for i in range(traffic):
        if i == phase_1:
            out.append(nightly(NIGHTLY_1))
        recent = i >= phase_1
        user, agent = rnd.choice(users), rnd.choice(agents)
        if recent and summarised_at_1 and rnd.random() < 0.5:
            user, agent = rnd.choice(summarised_at_1)
        kind = rnd.random()
        if kind < 0.15 and sent:  # repeat a conversation_id, maybe with a different body
            body = dict(rnd.choice(sent))
            if rnd.random() < 0.5:
                body["messages"] = [{"role": "user", "content": "changed?", "ts": body["ended_at"]}]
            out.append(Request("POST", END_PATH, body))
        elif kind < 0.25:
            out.append(Request("GET", f"/v1/friendships/{user}/{agent}"))
        elif kind < 0.32:
            out.append(
                Request(
                    "POST",
                    ACTIVITIES_PATH,
                    {"user_id": user, "agent_id": agent, "limit": rnd.randint(1, 5)},
                )
            )
        else:
            end = _recent_end(rnd) if recent else _early_end(rnd)
            if not recent and end > NIGHTLY_1 - timedelta(hours=24):
                summarised_at_1.append((user, agent))
            n = rnd.randint(1, 12)
            msgs = [
                {
                    "role": rnd.choice(["user", "user", "assistant"]),
                    "content": " ".join(rnd.choice(PHRASES) for _ in range(rnd.randint(1, 3))),
                    "ts": (end - timedelta(seconds=30 * (n - k))).isoformat(),
                }
                for k in range(n)
            ]
            body = {
                "conversation_id": f"c{seed}-{i}",
                "user_id": user,
                "agent_id": agent,
                "started_at": (end - timedelta(minutes=10)).isoformat(),
                "ended_at": end.isoformat(),
                "messages": msgs,
            }
            sent.append(body)
            out.append(Request("POST", END_PATH, body))
    if len(out) == phase_1:  # a sequence too short for phase 2
        out.append(nightly(NIGHTLY_1))
    out.append(nightly(NIGHTLY_2))
    return out


# ---- the fault schedule that makes the services fall back ------------------------------

# (fake, FaultConfig) cycled over the faulted conversations. Each fault persists for the
# whole request, so it outlasts refactored's 3 attempts (legacy: 1 attempt, no retry of
# a 5xx); each hits ONE dependency call, so the other calls still succeed.
CONVERSATION_FAULTS: tuple[dict[str, dict[str, Any]], ...] = (
    {"llm": {"tasks": ["emotion"], "error": {"status": 500, "mode": "all"}}},
    {"llm": {"tasks": ["questions"], "malformed": {"mode": "all"}}},
    {"llm": {"tasks": ["topics"], "error": {"status": 503, "mode": "all", "retry_after_s": 0}}},
    {"memory": {"error": {"status": 500, "mode": "all"}}},
)
# their conversations never fault: friendships compared with fault-free to the end
FAULT_FREE_USERS = frozenset({"u1"})
ACTIVITIES_FAULT = {"llm": {"tasks": ["activities"], "error": {"status": 500, "mode": "all"}}}
SUMMARY_FAULT = {"llm": {"tasks": ["summary"], "error": {"status": 500, "mode": "all"}}}
# the analysis fields a fault on an LLM task makes fall back, and the Memory API's
FALLBACK_FIELDS = {"emotion": "emotion", "questions": "questions", "topics": "topics"}


def fallback_schedule(requests: list[Request]) -> list[Request]:
    """The same requests with deterministic persistent faults attached.

    Every third new conversation (of users other than :data:`FAULT_FREE_USERS`,
    whose friendships stay comparable with fault-free to the end) gets one fault
    of :data:`CONVERSATION_FAULTS` in turn (emotion 500, questions malformed,
    topics 503, Memory API 500); every second activity suggestion whose LLM
    neighbours (the requests calling the LLM just before and after it) are not
    faulted, a 500 on the activities task; the last nightly a 500 on every
    summary (the old summaries must stay: all fail, whether by retries or by the
    breaker they open).
    Everything else runs with no fault (``{}``).

    Between two faulted LLM requests there is always one that succeeds, so
    refactored's LLM breaker (5 consecutive failures) never opens before the last
    nightly: a faulted request fails at most 3 attempts in a row, and a success
    resets the count.
    """
    seen: set[str] = set()
    new_conversations = 0
    last_nightly = max((i for i, r in enumerate(requests) if r.path == NIGHTLY_PATH), default=-1)
    faults: list[dict[str, dict[str, Any]]] = [{} for _ in requests]
    calls_llm: list[
        int
    ] = []  # the requests that call the LLM: new conversations, activities, nightlies
    for i, req in enumerate(requests):
        if req.path == END_PATH and req.body is not None:
            if req.body["conversation_id"] not in seen:
                seen.add(req.body["conversation_id"])
                calls_llm.append(i)
                if req.body["user_id"] in FAULT_FREE_USERS:
                    continue
                if new_conversations % 3 == 1:
                    faults[i] = CONVERSATION_FAULTS[
                        (new_conversations // 3) % len(CONVERSATION_FAULTS)
                    ]
                new_conversations += 1
        elif req.path in (ACTIVITIES_PATH, NIGHTLY_PATH):
            calls_llm.append(i)
    activities = 0
    for n, i in enumerate(calls_llm):
        if requests[i].path == ACTIVITIES_PATH:
            neighbours = calls_llm[max(0, n - 1) : n] + calls_llm[n + 1 : n + 2]
            if not any("llm" in faults[k] for k in neighbours):  # eligible
                if activities % 2 == 1:
                    faults[i] = ACTIVITIES_FAULT
                activities += 1
    if last_nightly >= 0:
        faults[last_nightly] = SUMMARY_FAULT
    return [replace(req, faults=f) for req, f in zip(requests, faults, strict=True)]


def expected_fallbacks(faults: Mapping[str, Mapping[str, Any]] | None) -> set[str]:
    """The ``degraded`` names a request's persistent faults force (conversation-end)."""
    names: set[str] = set()
    if not faults:
        return names
    llm = faults.get("llm") or {}
    persistent = any(
        (llm.get(kind) or {}).get("mode", "all") == "all" for kind in ("error", "malformed")
    )
    if persistent:
        names |= {FALLBACK_FIELDS[t] for t in llm.get("tasks") or () if t in FALLBACK_FIELDS}
    if (faults.get("memory") or {}).get("error"):
        names.add("memory")
    return names


def faulted_task(faults: Mapping[str, Mapping[str, Any]] | None, task: str) -> bool:
    llm = (faults or {}).get("llm") or {}
    return bool(llm) and task in (llm.get("tasks") or ())


# ---- sending ---------------------------------------------------------------------------


def send(
    base_url: str,
    requests: list[Request],
    controls: Mapping[str, Any] | None = None,
    snapshot_before: Iterable[int] = (),
    take_snapshot: Callable[[], State] | None = None,
) -> tuple[list[dict[str, Any]], dict[int, State]]:
    """Send every request in order; apply each one's faults and snapshot where asked.

    ``controls``: per fake, an object with ``set_faults(dict)`` / ``clear_faults()``
    (:class:`testbed.fakes.FakeControl`).
    """
    answers = []
    before: dict[int, State] = {}
    wanted = set(snapshot_before)
    applied: dict[str, Mapping[str, Any]] = {}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base_url, timeout=60.0, headers=headers) as client:
        for i, req in enumerate(requests):
            if i in wanted and take_snapshot is not None:
                before[i] = take_snapshot()
            if req.faults is not None and controls:
                for kind, control in controls.items():
                    desired = req.faults.get(kind) or {}
                    if desired != applied.get(kind, {}):
                        if desired:
                            control.set_faults(dict(desired))
                        else:
                            control.clear_faults()
                        applied[kind] = desired
            r = client.request(req.method, req.path, json=req.body)
            body = (
                r.json()
                if r.headers.get("content-type", "").startswith("application/json")
                else r.text
            )
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k not in RESPONSE_NOISE}
            answers.append({"status": r.status_code, "body": body})
    return answers, before


def snapshot(database_url: str) -> State:
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    state: State = {}
    try:
        with engine.connect() as conn:
            for table, key in TABLE_KEYS.items():
                rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {', '.join(key)}"))
                state[table] = [
                    {
                        k: (v.isoformat() if hasattr(v, "isoformat") else v)
                        for k, v in row._mapping.items()
                        if k not in DB_NOISE[table]
                    }
                    for row in rows
                ]
    finally:
        engine.dispose()
    return state


# ---- comparing -------------------------------------------------------------------------


def friendship_of(req: Request) -> Key | None:
    """The friendship a request reads or writes; None for the nightly (all of them)."""
    if req.body is not None and "user_id" in req.body and "agent_id" in req.body:
        return (str(req.body["user_id"]), str(req.body["agent_id"]))
    parts = req.path.strip("/").split("/")
    if req.method == "GET" and len(parts) == 4 and parts[:2] == ["v1", "friendships"]:
        return (parts[2], parts[3])
    return None


def body_diff(a: Any, b: Any, path: str = "") -> list[str]:
    """One line per differing field, nested dicts recursed (``a`` first, then ``b``)."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [f"{path or 'body'}: {a!r} != {b!r}"]
    lines: list[str] = []
    for k in sorted(set(a) | set(b), key=str):
        where = f"{path}.{k}" if path else str(k)
        if k not in a or k not in b:
            lines.append(f"{where}: {a.get(k, '<missing>')!r} != {b.get(k, '<missing>')!r}")
        else:
            lines.extend(body_diff(a[k], b[k], where))
    return lines


def first_divergence(
    requests: list[Request],
    left: list[dict[str, Any]],
    right: list[dict[str, Any]],
    numbers: list[int] | None = None,
) -> str | None:
    """The first diverging request with both answers and a field diff, or None."""
    index = first_diverging_index(left, right)
    if index is None:
        return None
    return divergence_text(requests, left, right, index, numbers)


def first_diverging_index(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> int | None:
    for i, (a, b) in enumerate(zip(left, right, strict=True)):
        if a != b:
            return i
    return None


def divergence_text(
    requests: list[Request],
    left: list[dict[str, Any]],
    right: list[dict[str, Any]],
    i: int,
    numbers: list[int] | None = None,
) -> str:
    a, b = left[i], right[i]
    number = numbers[i] if numbers else i
    diff = body_diff(a["body"], b["body"]) if a["status"] == b["status"] else []
    if a["status"] != b["status"]:
        diff.insert(0, f"status: {a['status']} != {b['status']}")
    return (
        f"request #{number} (prefix of {i + 1} requests): {req_line(requests[i])}\n  A: {a}\n"
        f"  B: {b}\n  " + "\n  ".join(diff)
    )


def req_line(req: Request) -> str:
    faults = f" faults={dict(req.faults)}" if req.faults else ""
    return f"{req.method} {req.path} {req.body!r}{faults}"


def row_key(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(k) for k in TABLE_KEYS.get(table, ("user_id", "agent_id")))


def state_diff(a: State, b: State, keys: set[Key] | None = None) -> list[tuple[Key | None, str]]:
    """(friendship, line) per differing field of each row, rows matched by primary key.

    ``keys`` restricts the comparison to the rows of those friendships.
    """
    out: list[tuple[Key | None, str]] = []
    for table in sorted(set(a) | set(b)):
        rows_a = {row_key(table, r): r for r in a.get(table, [])}
        rows_b = {row_key(table, r): r for r in b.get(table, [])}
        for pk in sorted(set(rows_a) | set(rows_b), key=repr):
            row = rows_a.get(pk) or rows_b[pk]
            key = (str(row.get("user_id")), str(row.get("agent_id"))) if "user_id" in row else None
            if keys is not None and key not in keys:
                continue
            where = f"{table}[{', '.join(map(str, pk))}]"
            if pk not in rows_a:
                out.append((key, f"{where}: missing in A, B={rows_b[pk]}"))
            elif pk not in rows_b:
                out.append((key, f"{where}: A={rows_a[pk]}, missing in B"))
            else:
                out += [(key, f"{where}.{line}") for line in body_diff(rows_a[pk], rows_b[pk])]
    return out


@dataclass(frozen=True)
class Mismatch:
    """A difference between two replays: where, whose friendship, and the readable diff."""

    index: int | None  # the request whose answer differs (None: only the DB differs)
    key: Key | None  # the friendship it concerns (None: unknown / global)
    text: str


def compare_replays(
    requests: list[Request], a: Replay, b: Replay, numbers: list[int] | None = None
) -> Mismatch | None:
    """The first difference: an answer, else the DB before a nightly, else the final DB."""
    numbers = numbers or list(range(len(requests)))
    i = first_diverging_index(a.answers, b.answers)
    if i is not None:
        text = divergence_text(requests, a.answers, b.answers, i, numbers)
        key = friendship_of(requests[i])
        if key is None:  # a nightly answer: name the first friendship whose state it changed
            later = [s for s in sorted(a.before) if s > i]
            after_a = a.before[later[0]] if later else a.state
            after_b = b.before[later[0]] if later else b.state
            diff = state_diff(after_a, after_b)
            key = next((k for k, _ in diff if k is not None), None)
            if diff:
                text += "\n  DB after it:\n    " + "\n    ".join(line for _, line in diff)
        return Mismatch(i, key, text)
    points = [
        (f"before request #{numbers[s]}", a.before[s], b.before.get(s, {}))
        for s in sorted(a.before)
    ]
    for where, sa_, sb_ in [*points, ("final", a.state, b.state)]:
        diff = state_diff(sa_, sb_)
        if diff:
            key = next((k for k, _ in diff if k is not None), None)
            lines = "\n  ".join(line for _, line in diff)
            return Mismatch(None, key, f"DB state {where} differs (A vs B):\n  {lines}")
    return None
