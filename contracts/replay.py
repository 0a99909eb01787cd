"""Diffy-style replay: one seeded traffic sequence, sent to a service; responses + DB snapshot.

A sequence mixes several users/agents, repeated conversation_ids (same and changed
bodies), out-of-order ended_at, activity suggestions and friendship reads, and ends
with a nightly run at a fixed clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from contracts.noise import DB_NOISE, RESPONSE_NOISE

ADMIN_TOKEN = "contract-admin-token"
BASE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
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


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None


def generate(seed: int, length: int) -> list[Request]:
    rnd = random.Random(seed)
    users, agents = ["u1", "u2", "u3"], ["a1", "a2"]
    sent: list[dict[str, Any]] = []
    out: list[Request] = []
    for i in range(length - 1):
        user, agent = rnd.choice(users), rnd.choice(agents)
        kind = rnd.random()
        if kind < 0.15 and sent:  # repeat a conversation_id, maybe with a different body
            body = dict(rnd.choice(sent))
            if rnd.random() < 0.5:
                body["messages"] = [{"role": "user", "content": "changed?", "ts": body["ended_at"]}]
            out.append(Request("POST", "/v1/conversations/end", body))
        elif kind < 0.25:
            out.append(Request("GET", f"/v1/friendships/{user}/{agent}"))
        elif kind < 0.32:
            out.append(
                Request(
                    "POST",
                    "/v1/activities/suggest",
                    {"user_id": user, "agent_id": agent, "limit": rnd.randint(1, 5)},
                )
            )
        else:
            # out of order on purpose: ended_at jumps back and forth within 5 days
            end = BASE + timedelta(minutes=rnd.randint(0, 5 * 24 * 60))
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
            out.append(Request("POST", "/v1/conversations/end", body))
    out.append(
        Request(
            "POST", "/v1/admin/nightly", {"now": (BASE + timedelta(days=9, hours=3)).isoformat()}
        )
    )
    return out


def send(base_url: str, requests: list[Request]) -> list[dict[str, Any]]:
    answers = []
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base_url, timeout=60.0, headers=headers) as client:
        for req in requests:
            r = client.request(req.method, req.path, json=req.body)
            body = (
                r.json()
                if r.headers.get("content-type", "").startswith("application/json")
                else r.text
            )
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k not in RESPONSE_NOISE}
            answers.append({"status": r.status_code, "body": body})
    return answers


def snapshot(database_url: str) -> dict[str, list[dict[str, Any]]]:
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    keys = {
        "friendships": "user_id, agent_id",
        "topic_metrics": "user_id, agent_id, topic",
        "processed_conversations": "conversation_id",
    }
    state: dict[str, list[dict[str, Any]]] = {}
    try:
        with engine.connect() as conn:
            for table, order in keys.items():
                rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}"))
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


def first_divergence(
    requests: list[Request], left: list[dict[str, Any]], right: list[dict[str, Any]]
) -> str | None:
    """The first diverging request with both answers and a field diff, or None."""
    for i, (req, a, b) in enumerate(zip(requests, left, right, strict=True)):
        if a != b:
            diff = (
                [
                    f"{k}: {a['body'].get(k)!r} != {b['body'].get(k)!r}"
                    for k in sorted(set(a["body"]) | set(b["body"]))
                    if a["body"].get(k) != b["body"].get(k)
                ]
                if isinstance(a["body"], dict) and isinstance(b["body"], dict)
                else []
            )
            return (
                f"request #{i} (prefix of {i + 1} requests): {req.method} {req.path} "
                f"{req.body!r}\n  A: {a}\n  B: {b}\n  " + "\n  ".join(diff)
            )
    return None
