"""Two replays walked side by side (``legacy_vs_refactored``, ``<version>_vs_clean``): answers
and DB rows identical until a friendship is tainted, and ``summaries`` checked apart."""

from __future__ import annotations

from typing import Any

from contracts.divergence import body_diff, friendship_of, req_line, state_diff
from contracts.fallbacks import faulted_task
from contracts.findings import (
    LLM_FIELDS,
    NEVER,
    SUMMARY_COLUMNS,
    Findings,
    answers_text,
    degraded_fields,
    rescored_keys,
)
from contracts.replay import Replay, State
from contracts.spec_model import when
from contracts.traffic import ACTIVITIES_PATH, END_PATH, NIGHTLY_PATH, Key, Request


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


def compare_states(
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


def walk_pair(
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
                        f"{name}: nightly #{numbers[i]}:" + answers_text(a_name, x, b_name, y),
                    )
            # a re-scoring nightly changes the friendships with LLM-degraded conversations
            for side, body in ((a, bx), (b, by)):
                if isinstance(body, dict) and body.get("rescored"):
                    for k in rescored_keys(requests, side, i):
                        taint.setdefault(k, i)
            continue
        if key is None or key in taint:
            continue
        if x["status"] != y["status"]:
            taint[key] = i
            continue
        if req.path == END_PATH:
            dx, dy = degraded_fields(x), degraded_fields(y)
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
                f"{name}: #{numbers[i]} {req_line(req)}" + answers_text(a_name, x, b_name, y),
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
