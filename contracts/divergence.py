"""Where two replays diverge: the first answer that differs, the DB rows that differ
(per friendship), and each as a readable line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.replay import TABLE_KEYS, Replay, State
from contracts.traffic import Key, Request


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
