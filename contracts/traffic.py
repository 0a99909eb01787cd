"""The replay's traffic: one seeded sequence of requests (``contracts.replay`` sends it).

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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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
Key = tuple[str, str]  # a friendship: (user_id, agent_id)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None
    # per fake ("llm", "memory"): the FaultConfig in force while this request runs;
    # None = leave the fakes' faults as they are ({} = no fault)
    faults: Mapping[str, Mapping[str, Any]] | None = None


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
