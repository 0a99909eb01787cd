"""Shrink a failing replay to a minimal request sequence (cheap, deterministic, bounded).

Replay has no Hypothesis shrinking (its sequences come from ``random.Random``), so a
mismatch is minimised here, in two steps, each candidate replayed on fresh DBs:

1. **project** onto the diverging friendship: friendships ``(user_id, agent_id)`` are
   independent except for the nightly runs (which touch all of them) and the
   idempotency by ``conversation_id``, so keep the requests of that friendship, every
   nightly, and every request sharing a ``conversation_id`` with a kept one;
2. **ddmin-lite**: drop chunks (halves, quarters, ... down to single requests) while
   the mismatch still reproduces, until no single request can be dropped (1-minimal)
   or the replay budget is spent.

The module does no I/O: ``fails(indices)`` replays the requests at those indices
(in order) and returns the mismatch text, or None when both sides agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from contracts.divergence import friendship_of, req_line
from contracts.traffic import Key, Request

Fails = Callable[[list[int]], str | None]


@dataclass(frozen=True)
class Minimised:
    indices: list[int]  # into the original sequence, in order
    failure: str  # the mismatch of the last failing replay of ``indices``
    replays: int  # replays spent
    projected: bool  # the projection onto one friendship reproduced the mismatch
    one_minimal: bool  # no single request can be dropped (False: budget exhausted)
    original: str = ""  # the mismatch of the full sequence

    def report(self, requests: Sequence[Request], total: int | None = None) -> str:
        total = len(requests) if total is None else total
        how = "1-minimal" if self.one_minimal else "budget or time exhausted, not 1-minimal"
        lines = [
            f"minimal sequence: {len(self.indices)} of {total} requests "
            f"({how}, {self.replays} replays"
            + (", projected onto one friendship)" if self.projected else ")")
        ]
        lines += [f"  #{i} {req_line(requests[i])}" for i in self.indices]
        lines.append(self.failure)
        if self.original and self.original != self.failure:
            lines.append("first seen in the full sequence: " + self.original.split("\n", 1)[0])
        return "\n".join(lines)


def project(requests: Sequence[Request], key: Key) -> list[int]:
    """Indices of the requests of friendship ``key``, the nightlies, and their conversation_ids."""
    keep = {i for i, r in enumerate(requests) if friendship_of(r) in (key, None)}
    ids = {
        r.body["conversation_id"]
        for i, r in enumerate(requests)
        if i in keep and r.body and "conversation_id" in r.body
    }
    keep |= {
        i
        for i, r in enumerate(requests)
        if r.body and r.body.get("conversation_id") in ids  # same id, other friendship
    }
    return sorted(keep)


def ddmin(
    indices: list[int],
    failure: str,
    fails: Fails,
    budget: int,
    out_of_time: Callable[[], bool] = lambda: False,
) -> tuple[list[int], str, int, bool]:
    """Drop chunks of ``indices`` while ``fails`` still reports a mismatch.

    Returns (indices, failure, replays spent, 1-minimal reached).
    """
    current, replays, n = list(indices), 0, 2
    while len(current) > 1:
        size = -(-len(current) // n)  # ceil
        reduced = False
        for start in range(0, len(current), size):
            if replays >= budget or out_of_time():
                return current, failure, replays, False
            candidate = current[:start] + current[start + size :]
            replays += 1
            found = fails(candidate)
            if found is not None:
                current, failure, reduced = candidate, found, True
                n = max(n - 1, 2)
                break
        if not reduced:
            if size == 1:
                return current, failure, replays, True  # no single request can go
            n = min(n * 2, len(current))
    return current, failure, replays, True


def minimise(
    requests: Sequence[Request],
    failure: str,
    key: Key | None,
    fails: Fails,
    budget: int,
    seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Minimised:
    """The smallest failing subsequence found within ``budget`` replays (and ``seconds``:
    no new replay starts after that, so a deep run's minimisation fits the test timeout)."""
    deadline = None if seconds is None else clock() + seconds

    def out_of_time() -> bool:
        return deadline is not None and clock() >= deadline

    original = failure
    everything = list(range(len(requests)))
    start, replays, projected = everything, 0, False
    if key is not None and budget > 0:
        sub = project(requests, key)
        if len(sub) < len(requests):
            replays += 1
            found = fails(sub)
            if found is not None:
                start, failure, projected = sub, found, True
    indices, failure, spent, one_minimal = ddmin(
        start, failure, fails, budget - replays, out_of_time
    )
    return Minimised(indices, failure, replays + spent, projected, one_minimal, original)
