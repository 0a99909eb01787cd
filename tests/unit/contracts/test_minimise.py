"""The replay minimiser: projection onto one friendship, then ddmin-lite, on a fake replay."""

from __future__ import annotations

import pytest

from contracts.minimise import ddmin, minimise, project
from contracts.traffic import NIGHTLY_2, Request, nightly

pytestmark = pytest.mark.unit


def end(cid: str, user: str = "u1", agent: str = "a1") -> Request:
    body = {"conversation_id": cid, "user_id": user, "agent_id": agent, "messages": []}
    return Request("POST", "/v1/conversations/end", body)


def sequence() -> list[Request]:
    """20 requests over three friendships, a read, an activity, a repeat and two nightlies."""
    out: list[Request] = []
    for i in range(16):
        out.append(end(f"c{i}", *[("u1", "a1"), ("u2", "a1"), ("u1", "a2")][i % 3]))
    out.insert(5, Request("GET", "/v1/friendships/u1/a1"))
    out.insert(8, Request("POST", "/v1/activities/suggest", {"user_id": "u2", "agent_id": "a1"}))
    out.insert(10, nightly(NIGHTLY_2))
    out.append(nightly(NIGHTLY_2))
    return out


class FakeReplay:
    """Fails when every request of ``needed`` (by conversation_id / path) is replayed."""

    def __init__(self, requests: list[Request], needed: set[str]) -> None:
        self.requests, self.needed, self.calls = requests, needed, 0

    def name(self, i: int) -> str:
        r = self.requests[i]
        return r.body["conversation_id"] if r.body and "conversation_id" in r.body else r.path

    def __call__(self, indices: list[int]) -> str | None:
        self.calls += 1
        names = [self.name(i) for i in indices]
        return f"diverges at {names[-1]}" if self.needed <= set(names) else None


def test_projection_keeps_the_friendship_the_nightlies_and_shared_conversation_ids() -> None:
    reqs = [*sequence(), end("c3", "u9", "a9")]  # c3 again, under another friendship
    kept = project(reqs, ("u1", "a1"))
    keys = {(r.body or {}).get("user_id") for r in (reqs[i] for i in kept)}
    assert keys <= {"u1", None, "u9"}
    assert [reqs[i].path for i in kept].count("/v1/admin/nightly") == 2
    assert "/v1/friendships/u1/a1" in [reqs[i].path for i in kept]
    assert len(reqs) - 1 in kept, "a request sharing a conversation_id is kept"
    assert not any((reqs[i].body or {}).get("user_id") == "u2" for i in kept)


def test_a_two_request_mismatch_of_one_friendship_shrinks_to_those_two() -> None:
    reqs = sequence()
    fake = FakeReplay(reqs, {"c3", "c9"})  # both of friendship (u1, a1)
    found = minimise(reqs, "full failure", ("u1", "a1"), fake, budget=40)
    assert [fake.name(i) for i in found.indices] == ["c3", "c9"]
    assert found.projected and found.one_minimal
    assert found.replays == fake.calls <= 40
    assert found.failure == "diverges at c9"
    text = found.report(reqs)
    assert text.startswith("minimal sequence: 2 of 20 requests (1-minimal")
    assert "'conversation_id': 'c3'" in text and "diverges at c9" in text
    assert "first seen in the full sequence: full failure" in text


def test_a_mismatch_needing_the_nightly_keeps_it() -> None:
    reqs = sequence()
    fake = FakeReplay(reqs, {"c0", "/v1/admin/nightly"})
    found = minimise(reqs, "x", ("u1", "a1"), fake, budget=40)
    assert [fake.name(i) for i in found.indices] == ["c0", "/v1/admin/nightly"]


def test_when_the_projection_does_not_reproduce_it_minimises_the_whole_sequence() -> None:
    reqs = sequence()
    fake = FakeReplay(reqs, {"c0", "c1"})  # two friendships interact (not independent)
    found = minimise(reqs, "x", ("u1", "a1"), fake, budget=60)
    assert not found.projected
    assert sorted(fake.name(i) for i in found.indices) == ["c0", "c1"]
    assert found.one_minimal


def test_the_budget_bounds_the_replays() -> None:
    reqs = sequence()
    fake = FakeReplay(reqs, {"c3", "c9"})
    found = minimise(reqs, "x", ("u1", "a1"), fake, budget=3)
    assert fake.calls == found.replays == 3
    assert not found.one_minimal
    assert "budget or time exhausted" in found.report(reqs)
    assert {"c3", "c9"} <= {fake.name(i) for i in found.indices}, "still a failing sequence"
    assert minimise(reqs, "x", ("u1", "a1"), FakeReplay(reqs, {"c3"}), budget=0).replays == 0


def test_the_minimiser_is_deterministic_and_never_returns_a_passing_sequence() -> None:
    reqs = sequence()
    runs = []
    for _ in range(2):
        fake = FakeReplay(reqs, {"c6", "c12", "/v1/friendships/u1/a1"})
        runs.append(minimise(reqs, "x", ("u1", "a1"), fake, budget=40))
    assert runs[0] == runs[1]
    assert FakeReplay(reqs, {"c6", "c12", "/v1/friendships/u1/a1"})(runs[0].indices)


def test_ddmin_on_a_single_request() -> None:
    assert ddmin([7], "f", lambda idx: "f", budget=5) == ([7], "f", 0, True)


def test_no_replay_starts_after_the_time_budget() -> None:
    reqs = sequence()
    now = [0.0]

    class Slow(FakeReplay):
        def __call__(self, indices: list[int]) -> str | None:
            now[0] += 10.0  # each replay takes 10 s
            return super().__call__(indices)

    fake = Slow(reqs, {"c3", "c9"})
    found = minimise(reqs, "x", ("u1", "a1"), fake, budget=40, seconds=25, clock=lambda: now[0])
    assert fake.calls == 3 and not found.one_minimal  # started at 0, 10 and 20 s
