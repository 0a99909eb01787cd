"""The checks of a replay under faults (pure: they read three finished replays).

Inputs: the requests, the refactored fault-free replay (``clean``) and the two
versions replayed with the same faults. A *taint* marks the point from which a
friendship's state may legitimately differ between two replays: an answer whose
status or ``degraded`` differs, or a nightly that re-scored one of its degraded
conversations (refactored only; not in DESIGN §5). Before its taint a friendship
must be identical; a tainted friendship is still checked against the DESIGN §5
model (:mod:`contracts.spec_model`) until it is re-scored.

Checks, each returning :class:`Problem` lines:

- ``statuses``: faults never change a status (every fallback exists);
- ``honest``: every conversation answer of every replay equals DESIGN §5 with the
  fallbacks its ``degraded`` names, and the stored friendship (score, level,
  last interaction, decay date, topic metrics) equals the model before each
  nightly and at the end;
- ``legacy_vs_refactored``: identical answers and rows wherever neither is tainted,
  degraded answers included (same fallbacks, same score), nightly counts too;
- ``versus_clean``: a version under faults vs refactored fault-free: identical
  wherever it did not name an LLM fallback (a ``memory`` fallback changes nothing
  else), activities only differ when ``source`` says ``fallback``;
- ``summaries``: a summary that was not refreshed is the old one, counted in
  ``summaries_failed``; a refreshed one equals the fault-free one;
- ``faults_bite``: a persistent fault on a request must show in its answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from contracts.replay import (
    ACTIVITIES_PATH,
    END_PATH,
    NIGHTLY_PATH,
    Key,
    Replay,
    Request,
    State,
    body_diff,
    expected_fallbacks,
    faulted_task,
    friendship_of,
    req_line,
    state_diff,
)
from contracts.spec_model import SpecModel, stored_rows, when

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


def _answers_text(name_a: str, a: dict[str, Any], name_b: str, b: dict[str, Any]) -> str:
    diff = body_diff(a.get("body"), b.get("body"))
    if a.get("status") != b.get("status"):
        diff.insert(0, f"status: {a.get('status')} != {b.get('status')}")
    return f"\n  {name_a}: {a}\n  {name_b}: {b}\n  " + "\n  ".join(diff)


def _conversations(requests: list[Request]) -> Iterator[tuple[int, Key, bool]]:
    """(index, friendship, first occurrence of its conversation_id for that owner) of every
    conversation-end (DESIGN §4: the key is the owner's)."""
    seen: set[tuple[str, str, str]] = set()
    for i, req in enumerate(requests):
        if req.path == END_PATH and req.body is not None:
            key = (req.body["user_id"], req.body["agent_id"])
            owned = (*key, req.body["conversation_id"])
            yield i, key, owned not in seen
            seen.add(owned)


def _degraded(answer: dict[str, Any]) -> list[str]:
    body = answer.get("body")
    return list(body.get("degraded") or []) if isinstance(body, dict) else []


def _rescored_keys(requests: list[Request], replay: Replay, upto: int) -> set[Key]:
    """Friendships with an LLM-degraded conversation stored before request ``upto``."""
    return {
        key
        for i, key, first in _conversations(requests)
        if i < upto and first and LLM_FIELDS.intersection(_degraded(replay.answers[i]))
    }


def _without(state: State, keys: set[Key] | None, drop_memory_fallback: bool) -> State:
    """The rows of ``keys`` minus the summary columns (checked apart); optionally a memory-only
    fallback erased from processed_conversations (it changes nothing else)."""
    out: State = {}
    for table, rows in state.items():
        kept = []
        for row in rows:
            if keys is not None and (row.get("user_id"), row.get("agent_id")) not in keys:
                continue
            row = {k: v for k, v in row.items() if k not in SUMMARY_COLUMNS}
            memory_only = row.get("degraded") == ["memory"]
            if drop_memory_fallback and table == "processed_conversations" and memory_only:
                row["degraded"] = []
                if isinstance(row.get("response"), dict):
                    row["response"] = {**row["response"], "degraded": []}
            kept.append(row)
        out[table] = kept
    return out


def _compare_states(
    f: Findings,
    name: str,
    requests: list[Request],
    numbers: list[int],
    a: Replay,
    b: Replay,
    taint: dict[Key, int],
    all_keys: set[Key],
    drop_memory_fallback: bool = False,
) -> None:
    points = [(s, a.before[s], b.before[s]) for s in sorted(a.before) if s in b.before]
    points.append((NEVER, a.state, b.state))
    for s, state_a, state_b in points:
        keys = {k for k in all_keys if taint.get(k, NEVER) >= s}
        diff = state_diff(
            _without(state_a, keys, drop_memory_fallback),
            _without(state_b, keys, drop_memory_fallback),
        )
        where = "final" if s == NEVER else f"before request #{numbers[s]}"
        for key, line in diff:
            f.add(s if s != NEVER else None, key, f"{name}: DB {where}: {line}")
        f.counts[f"{name}.db_rows_compared"] += sum(
            1 for r in state_a.get("friendships", []) if (r["user_id"], r["agent_id"]) in keys
        )


def check_statuses(
    f: Findings,
    requests: list[Request],
    clean: Replay,
    faulty: dict[str, Replay],
    numbers: list[int],
) -> None:
    for name, replay in faulty.items():
        for i, (got, want) in enumerate(zip(replay.answers, clean.answers, strict=True)):
            if got["status"] != want["status"]:
                f.add(
                    i,
                    friendship_of(requests[i]),
                    f"{name} under faults answered {got['status']} where fault-free answered "
                    f"{want['status']}: #{numbers[i]} {req_line(requests[i])}"
                    + _answers_text(name, got, "fault-free", want),
                )


def check_honest(
    f: Findings, requests: list[Request], name: str, replay: Replay, numbers: list[int]
) -> None:
    """Every answer and stored friendship equals DESIGN §5 with its declared fallbacks."""
    model, unmodelled = SpecModel(), set[Key]()

    def compare_state(state: State, where: str, index: int | None) -> None:
        for key in model.friends:
            if key in unmodelled:
                continue
            got, want = stored_rows(state, key), model.rows(key)
            if got is None:
                f.add(index, key, f"{name}: friendship {key} {where} is not stored")
                continue
            if got != want:
                f.add(
                    index,
                    key,
                    f"{name}: stored friendship {key} {where} differs from DESIGN §5: "
                    + "; ".join(body_diff(got, want)),
                )

    for i, req in enumerate(requests):
        if i in replay.before:
            compare_state(replay.before[i], f"before request #{numbers[i]}", i)
        answer = replay.answers[i]
        if req.path == NIGHTLY_PATH and req.body is not None:
            if answer["status"] != 200:
                continue
            decayed = model.nightly(when(req.body["now"]))
            body = answer["body"]
            if body.get("decayed") != len(decayed):
                f.add(
                    i,
                    None,
                    f"{name}: nightly #{numbers[i]} decayed {body.get('decayed')}, "
                    f"DESIGN §5 decays {len(decayed)}: {sorted(decayed)}",
                )
            if body.get("rescored"):  # refactored re-scored degraded conversations: not modelled
                unmodelled |= _rescored_keys(requests, replay, i)
            continue
        if req.path != END_PATH or req.body is None or answer["status"] != 200:
            continue
        key = (req.body["user_id"], req.body["agent_id"])
        degraded = _degraded(answer)
        want = model.end(req.body, degraded)  # also for a re-scored one: its clock stays right
        if key in unmodelled:
            f.counts[f"{name}.honest_skipped_rescored"] += 1
            continue
        unknown = set(degraded) - LLM_FIELDS - {"memory"}
        if unknown:
            f.add(i, key, f"{name}: #{numbers[i]} degraded names unknown fallbacks {unknown}")
        f.counts[f"{name}.honest_checked"] += 1
        if degraded:
            f.counts[f"{name}.honest_checked_degraded"] += 1
        if answer["body"] != want:
            f.add(
                i,
                key,
                f"{name}: #{numbers[i]} {req_line(req)}\n  answer differs from DESIGN §5 with "
                f"fallbacks {degraded}:"
                + _answers_text(name, answer, "DESIGN §5", {"status": 200, "body": want}),
            )
    compare_state(replay.state, "final", None)


def _walk_pair(
    f: Findings,
    name: str,
    requests: list[Request],
    numbers: list[int],
    a_name: str,
    a: Replay,
    b_name: str,
    b: Replay,
    *,
    versus_clean: bool,
) -> dict[Key, int]:
    """Compare the answers of two replays friendship by friendship, up to each one's taint."""
    taint: dict[Key, int] = {}
    for i, req in enumerate(requests):
        x, y = a.answers[i], b.answers[i]
        key = friendship_of(req)
        if req.path == NIGHTLY_PATH:
            bx, by = x.get("body"), y.get("body")
            if isinstance(bx, dict) and isinstance(by, dict):
                diff = [
                    line
                    for k in ("now", "decayed")
                    for line in body_diff({k: bx.get(k)}, {k: by.get(k)})
                ]
                total_x = (bx.get("summaries_refreshed") or 0) + (bx.get("summaries_failed") or 0)
                total_y = (by.get("summaries_refreshed") or 0) + (by.get("summaries_failed") or 0)
                if total_x != total_y:
                    diff.append(f"summaries refreshed+failed: {total_x} != {total_y}")
                if diff:
                    f.add(
                        i,
                        None,
                        f"{name}: nightly #{numbers[i]}:" + _answers_text(a_name, x, b_name, y),
                    )
            # a re-scoring nightly changes the friendships with LLM-degraded conversations
            for side, body in ((a, bx), (b, by)):
                if isinstance(body, dict) and body.get("rescored"):
                    for k in _rescored_keys(requests, side, i):
                        taint.setdefault(k, i)
            continue
        if key is None or key in taint:
            continue
        if x["status"] != y["status"]:
            taint[key] = i
            continue
        if req.path == END_PATH:
            dx, dy = _degraded(x), _degraded(y)
            if versus_clean:
                if LLM_FIELDS.intersection(dx) or dy:
                    taint[key] = i
                    continue
                if dx:  # memory only: everything but `degraded` as fault-free
                    x = {**x, "body": {**x["body"], "degraded": dy}}
                    f.counts[f"{name}.memory_fallback_compared"] += 1
            elif dx != dy:
                taint[key] = i
                continue
            elif dx:
                f.counts[f"{name}.compared_degraded"] += 1
            f.counts[f"{name}.conversations_compared"] += 1
        elif req.path == ACTIVITIES_PATH:
            sx = x["body"].get("source") if isinstance(x["body"], dict) else None
            sy = y["body"].get("source") if isinstance(y["body"], dict) else None
            if sx != sy and "fallback" in (sx, sy):
                f.counts[f"{name}.activities_fallback"] += 1
                continue  # an activities fallback is declared in `source`, changes nothing
        if x != y:
            f.add(
                i,
                key,
                f"{name}: #{numbers[i]} {req_line(req)}" + _answers_text(a_name, x, b_name, y),
            )
    f.counts[f"{name}.tainted_friendships"] = len(taint)
    return taint


def check_summaries(
    f: Findings,
    requests: list[Request],
    name: str,
    replay: Replay,
    clean: Replay,
    taint: dict[Key, int],
    numbers: list[int],
) -> None:
    """Per nightly: a summary is refreshed (stamped with the nightly's ``now``; equal to
    the fault-free one where the friendship is untainted) or kept whole (old text, old
    stamp), and the kept ones that fault-free refreshed are within ``summaries_failed``."""
    nightlies = [i for i, r in enumerate(requests) if r.path == NIGHTLY_PATH and i in replay.before]

    def summaries(state: State) -> dict[Key, tuple[Any, Any]]:
        return {
            (r["user_id"], r["agent_id"]): (r.get("summary"), r.get("summary_updated_at"))
            for r in state.get("friendships", [])
        }

    for n, s in enumerate(nightlies):
        nxt = nightlies[n + 1] if n + 1 < len(nightlies) else None
        before = summaries(replay.before[s])
        after = summaries(replay.before[nxt] if nxt is not None else replay.state)
        clean_before = summaries(clean.before[s])
        clean_after = summaries(clean.before[nxt] if nxt is not None else clean.state)
        answer = replay.answers[s]["body"] if isinstance(replay.answers[s]["body"], dict) else {}
        body = requests[s].body
        now = when(body["now"]) if body else None
        kept, refreshed = 0, []
        for key, (text, stamp) in after.items():
            old_text, old_stamp = before.get(key, (None, None))
            clean_text, clean_stamp = clean_after.get(key, (None, None))
            clean_refreshed = clean_stamp != clean_before.get(key, (None, None))[1]
            if stamp != old_stamp:
                refreshed.append(key)
                f.counts[f"{name}.summaries_refreshed"] += 1
                if stamp is None or when(stamp) != now:
                    f.add(s, key, f"{name}: summary of {key} stamped {stamp} at nightly {now}")
                if taint.get(key, NEVER) > s and text != clean_text:
                    f.add(
                        s,
                        key,
                        f"{name}: summary of {key} after nightly #{numbers[s]} is "
                        f"{text!r}, fault-free {clean_text!r}",
                    )
            elif text != old_text:
                f.add(s, key, f"{name}: summary of {key} changed without a new stamp")
            elif clean_refreshed:
                kept += 1
        f.counts[f"{name}.summaries_kept"] += kept
        if kept > (answer.get("summaries_failed") or 0):
            f.add(
                s,
                None,
                f"{name}: nightly #{numbers[s]} kept {kept} old summaries but "
                f"declared summaries_failed={answer.get('summaries_failed')}",
            )
        if faulted_task(requests[s].faults, "summary") and (
            refreshed or answer.get("summaries_refreshed")
        ):
            f.add(
                s,
                None,
                f"{name}: every summary call failed at nightly #{numbers[s]}, yet "
                f"summaries were refreshed for {sorted(refreshed)} (answer {answer})",
            )


def check_faults_bite(
    f: Findings, requests: list[Request], name: str, replay: Replay, numbers: list[int]
) -> None:
    for i, key, first in _conversations(requests):
        want = expected_fallbacks(requests[i].faults)
        if first and want and replay.answers[i]["status"] == 200:
            got = set(_degraded(replay.answers[i]))
            f.counts[f"{name}.faulted_conversations"] += 1
            if not want <= got:
                f.add(
                    i,
                    key,
                    f"{name}: #{numbers[i]} ran with faults {dict(requests[i].faults or {})} "
                    f"but degraded={sorted(got)} does not name {sorted(want - got)}",
                )
    for i, req in enumerate(requests):
        if req.path == ACTIVITIES_PATH and faulted_task(req.faults, "activities"):
            body = replay.answers[i]["body"]
            body = body if isinstance(body, dict) else {}
            f.counts[f"{name}.faulted_activities"] += 1
            if replay.answers[i]["status"] == 200 and body.get("source") != "fallback":
                f.add(
                    i,
                    friendship_of(req),
                    f"{name}: #{numbers[i]} activities LLM failed but "
                    f"source={body.get('source')!r}",
                )


def check_under_faults(
    requests: list[Request],
    clean: Replay,
    legacy: Replay,
    refactored: Replay,
    numbers: list[int] | None = None,
) -> Findings:
    numbers = numbers or list(range(len(requests)))
    f = Findings()
    faulty = {"legacy": legacy, "refactored": refactored}
    keys = {k for r in requests if (k := friendship_of(r)) is not None}
    check_statuses(f, requests, clean, faulty, numbers)
    for name, replay in {"clean": clean, **faulty}.items():
        check_honest(f, requests, name, replay, numbers)
    taint = _walk_pair(
        f,
        "legacy_vs_refactored",
        requests,
        numbers,
        "legacy",
        legacy,
        "refactored",
        refactored,
        versus_clean=False,
    )
    _compare_states(f, "legacy_vs_refactored", requests, numbers, legacy, refactored, taint, keys)
    for name, replay in faulty.items():
        versus = f"{name}_vs_clean"
        taint = _walk_pair(
            f, versus, requests, numbers, name, replay, "fault-free", clean, versus_clean=True
        )
        _compare_states(
            f, versus, requests, numbers, replay, clean, taint, keys, drop_memory_fallback=True
        )
        check_summaries(f, requests, name, replay, clean, taint, numbers)
        check_faults_bite(f, requests, name, replay, numbers)
    return f
