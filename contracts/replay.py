"""Diffy-style replay: a traffic sequence (``contracts.traffic``) sent to one service, each
request under its faults; the answers and DB snapshots (noise fields dropped) to compare
(``contracts.divergence``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from contracts.noise import DB_NOISE, RESPONSE_NOISE
from contracts.traffic import ADMIN_TOKEN, Request

# primary keys of the compared tables (every row also names its friendship)
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "friendships": ("user_id", "agent_id"),
    "topic_metrics": ("user_id", "agent_id", "topic"),
    # docs/conventions.md §4-§5 (migration 0002): a conversation id is its owner's
    "processed_conversations": ("conversation_id", "user_id", "agent_id"),
}
State = dict[str, list[dict[str, Any]]]


@dataclass
class Replay:
    """What one target answered, its final DB state and its state before each nightly."""

    answers: list[dict[str, Any]]
    state: State
    before: dict[int, State] = field(default_factory=dict)  # request index -> state


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
