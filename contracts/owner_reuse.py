"""The known difference ``idempotency_per_owner`` (contracts/noise.py), made exact.

docs/conventions.md §4 keys idempotency on (user_id, agent_id, conversation_id); legacy keys it on
conversation_id alone (a kept bug). :func:`replay.generate` never reuses an id across
owners, so the replay's equality is untouched by it (the test asserts so with
:func:`owner_reuses`). :func:`reuse_across_owners` appends such traffic to a generated
sequence, and :func:`check_owner_reuse` proves the two versions differ exactly as named
there and nowhere else:

- before the appended part: every answer and DB state identical (the usual contract);
- a conversation id re-sent by another owner (another user, or the same user with
  another agent), then replayed by that owner with a changed body: legacy answers both
  with the first owner's stored answer and writes nothing; refactored answers both with
  the new owner's own result, scored as docs/scoring.md gives (:class:`SpecModel`, per owner);
- a read of each such owner: legacy's friendship is unchanged, refactored's carries the
  new owner's score;
- the DB: legacy's final state is its state before the appended part; refactored's
  differs only in the rows of the reusing owners, with one processed row per owner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.divergence import compare_replays, state_diff
from contracts.replay import Replay, State
from contracts.spec_model import SpecModel
from contracts.traffic import END_PATH, NIGHTLY_PATH, Key, Request

Owned = tuple[str, str, str]  # (user_id, agent_id, conversation_id)


def _owned(req: Request) -> Owned | None:
    if req.path != END_PATH or req.body is None:
        return None
    b = req.body
    return (str(b["user_id"]), str(b["agent_id"]), str(b["conversation_id"]))


def owner_reuses(requests: list[Request]) -> dict[int, int]:
    """Conversation-end index -> index of the first sending of its id, by another owner."""
    first: dict[str, tuple[int, Key]] = {}
    out: dict[int, int] = {}
    for i, req in enumerate(requests):
        owned = _owned(req)
        if owned is None:
            continue
        user, agent, cid = owned
        at, owner = first.setdefault(cid, (i, (user, agent)))
        if owner != (user, agent):
            out[i] = at
    return out


def _next(values: list[str], current: str) -> str:
    return values[(values.index(current) + 1) % len(values)]


def reuse_across_owners(requests: list[Request], count: int = 4) -> list[Request]:
    """``requests``, then ``count`` of its conversations ended again by another owner (even:
    the next user, same agent; odd: the same user, the next agent), each followed by that
    owner's replay with a changed body; then a read of every reusing owner."""
    first: dict[str, dict[str, Any]] = {}  # conversation_id -> the body that first sent it
    for req in requests:
        if _owned(req) is not None and req.body is not None:
            first.setdefault(str(req.body["conversation_id"]), req.body)
    unique = list(first.values())
    users = sorted({str(b["user_id"]) for b in unique})
    agents = sorted({str(b["agent_id"]) for b in unique})
    out = list(requests)
    owners: list[Key] = []
    for k in range(min(count, len(unique))):
        body = dict(unique[k * len(unique) // count])
        field, values = ("user_id", users) if k % 2 == 0 else ("agent_id", agents)
        if len(values) < 2:
            continue  # no other owner to send it
        body[field] = _next(values, body[field])
        changed = [{"role": "user", "content": "changed?", "ts": body["ended_at"]}]
        out += [
            Request("POST", END_PATH, body),
            Request("POST", END_PATH, {**body, "messages": changed}),
        ]
        owners.append((body["user_id"], body["agent_id"]))
    out += [Request("GET", f"/v1/friendships/{u}/{a}") for u, a in dict.fromkeys(owners)]
    return out


def _model_answers(requests: list[Request]) -> dict[int, dict[str, Any]]:
    """docs/scoring.md per owner, fault-free: the answer each conversation-end must get."""
    model, out = SpecModel(), {}
    for i, req in enumerate(requests):
        if req.path == END_PATH and req.body is not None:
            out[i] = model.end(req.body, [])
        elif req.path == NIGHTLY_PATH and req.body is not None:
            model.nightly(datetime.fromisoformat(req.body["now"]))
    return out


def _prefix(replay: Replay, start: int) -> Replay:
    before = {s: v for s, v in replay.before.items() if s < start}
    return Replay(replay.answers[:start], replay.before[start], before)


def _score(state: State, key: Key) -> int | None:
    rows = [r for r in state["friendships"] if (r["user_id"], r["agent_id"]) == key]
    return int(rows[0]["score"]) if rows else None


def check_owner_reuse(
    requests: list[Request], start: int, legacy: Replay, refactored: Replay
) -> tuple[list[str], dict[str, int]]:
    """Problems (empty: the difference is exactly the named one) and what was compared.

    ``start``: the first appended request; both replays snapshotted the DB before it.
    """
    problems: list[str] = []
    found = compare_replays(requests[:start], _prefix(legacy, start), _prefix(refactored, start))
    if found is not None:
        problems.append(f"before the reuses: {found.text}")
    reuses = owner_reuses(requests)
    model = _model_answers(requests)
    own_first: dict[Owned, int] = {}  # an owner's first sending of an id: its own result
    last_own: dict[Key, dict[str, Any]] = {}
    counts = {"reuses": 0, "replays": 0, "reads": 0, "prefix_requests": start}
    for i in range(start, len(requests)):
        req, old, new = requests[i], legacy.answers[i], refactored.answers[i]
        owned = _owned(req)
        if owned is not None:
            if owned in own_first:  # the owner's replay, with a changed body
                own, counts["replays"] = refactored.answers[own_first[owned]], counts["replays"] + 1
            else:
                own, counts["reuses"] = {"status": 200, "body": model[i]}, counts["reuses"] + 1
                own_first[owned] = i
            f = reuses[i]
            if old != legacy.answers[f]:
                problems.append(f"#{i} legacy: {old} is not the first owner's answer #{f}")
            if new != own:
                problems.append(f"#{i} refactored: {new} is not the owner's own result {own}")
            last_own[owned[:2]] = own["body"]
            continue
        key = tuple(req.path.strip("/").split("/")[2:4])
        counts["reads"] += 1
        before = _score(legacy.before[start], key)  # type: ignore[arg-type]
        expected_old = (200, before) if before is not None else (404, None)
        got_old = (old["status"], old["body"].get("friendship_score"))
        if got_old != expected_old:
            problems.append(f"#{i} legacy read {got_old}: its friendship changed ({expected_old})")
        own_score = last_own[key]["friendship_score"]  # type: ignore[index]
        if (new["status"], new["body"].get("friendship_score")) != (200, own_score):
            problems.append(f"#{i} refactored read {new}: not the owner's score {own_score}")
    if legacy.state != legacy.before[start]:
        lines = [line for _, line in state_diff(legacy.before[start], legacy.state)]
        problems.append("legacy wrote something for a reused id:\n  " + "\n  ".join(lines))
    touched = {k for k, _ in state_diff(refactored.before[start], refactored.state)}
    if not touched <= set(last_own):
        problems.append(f"refactored changed other friendships: {touched - set(last_own)}")
    stored = {
        (r["user_id"], r["agent_id"], r["conversation_id"])
        for r in refactored.state["processed_conversations"]
    }
    for i in reuses:
        if _owned(requests[i]) not in stored:
            problems.append(f"#{i} refactored stored no row for its owner")
    return problems, counts
