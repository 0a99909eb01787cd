"""The checks of a replay under faults (pure: they read three finished replays).

Inputs: the requests, the refactored fault-free replay (``clean``) and the two
versions replayed with the same faults. A *taint* marks the point from which a
friendship's state may legitimately differ between two replays: an answer whose
status or ``degraded`` differs, or a nightly that re-scored one of its degraded
conversations (refactored only; not in docs/scoring.md). Before its taint a friendship
must be identical; a tainted friendship is still checked against the docs/scoring.md
model (:mod:`contracts.spec_model`) until it is re-scored.

Checks, each returning :class:`Problem` lines:

- ``statuses``: faults never change a status (every fallback exists);
- ``honest``: every conversation answer of every replay equals docs/scoring.md with the
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

from contracts.divergence import friendship_of, req_line
from contracts.fallbacks import expected_fallbacks, faulted_task
from contracts.findings import Findings, answers_text, conversation_ends, degraded_fields
from contracts.honest_check import check_honest
from contracts.pair_checks import check_summaries, compare_states, walk_pair
from contracts.replay import Replay
from contracts.traffic import ACTIVITIES_PATH, Request


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
                    + answers_text(name, got, "fault-free", want),
                )


def check_faults_bite(
    f: Findings, requests: list[Request], name: str, replay: Replay, numbers: list[int]
) -> None:
    for i, key, first in conversation_ends(requests):
        want = expected_fallbacks(requests[i].faults)
        if first and want and replay.answers[i]["status"] == 200:
            got = set(degraded_fields(replay.answers[i]))
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
    taint = walk_pair(
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
    compare_states(f, "legacy_vs_refactored", requests, numbers, legacy, refactored, taint, keys)
    for name, replay in faulty.items():
        versus = f"{name}_vs_clean"
        taint = walk_pair(
            f, versus, requests, numbers, name, replay, "fault-free", clean, versus_clean=True
        )
        compare_states(
            f, versus, requests, numbers, replay, clean, taint, keys, drop_memory_fallback=True
        )
        check_summaries(f, requests, name, replay, clean, taint, numbers)
        check_faults_bite(f, requests, name, replay, numbers)
    return f
