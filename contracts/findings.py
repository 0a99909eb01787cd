"""What the checks under faults share: the problems they find (:class:`Findings`), the
conversation-ends of a sequence, and what an answer says it degraded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from contracts.divergence import body_diff
from contracts.replay import Replay
from contracts.traffic import END_PATH, Key, Request

LLM_FIELDS = frozenset({"emotion", "questions", "topics"})
NEVER = 1 << 60  # taint index of a friendship that never diverged
SUMMARY_COLUMNS = frozenset({"summary", "summary_updated_at"})  # see check_summaries


@dataclass(frozen=True)
class Problem:
    index: int | None  # request index (None: DB state)
    key: Key | None
    text: str


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, index: int | None, key: Key | None, text: str) -> None:
        self.problems.append(Problem(index, key, text))


def answers_text(name_a: str, a: dict[str, Any], name_b: str, b: dict[str, Any]) -> str:
    diff = body_diff(a.get("body"), b.get("body"))
    if a.get("status") != b.get("status"):
        diff.insert(0, f"status: {a.get('status')} != {b.get('status')}")
    return f"\n  {name_a}: {a}\n  {name_b}: {b}\n  " + "\n  ".join(diff)


def conversation_ends(requests: list[Request]) -> Iterator[tuple[int, Key, bool]]:
    """(index, friendship, first occurrence of its conversation_id for that owner) of every
    conversation-end (docs/conventions.md §4: the key is the owner's)."""
    seen: set[tuple[str, str, str]] = set()
    for i, req in enumerate(requests):
        if req.path == END_PATH and req.body is not None:
            key = (req.body["user_id"], req.body["agent_id"])
            owned = (*key, req.body["conversation_id"])
            yield i, key, owned not in seen
            seen.add(owned)


def degraded_fields(answer: dict[str, Any]) -> list[str]:
    body = answer.get("body")
    return list(body.get("degraded") or []) if isinstance(body, dict) else []


def rescored_keys(requests: list[Request], replay: Replay, upto: int) -> set[Key]:
    """Friendships with an LLM-degraded conversation stored before request ``upto``."""
    return {
        key
        for i, key, first in conversation_ends(requests)
        if i < upto and first and LLM_FIELDS.intersection(degraded_fields(replay.answers[i]))
    }
