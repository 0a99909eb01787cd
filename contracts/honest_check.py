"""``honest``: every conversation answer of a replay equals the reference model
(:mod:`contracts.spec_model`) with the fallbacks its ``degraded`` names, and the stored
friendship equals the model before each nightly and at the end."""

from __future__ import annotations

from contracts.divergence import body_diff, req_line
from contracts.findings import (
    LLM_FIELDS,
    Findings,
    answers_text,
    degraded_fields,
    rescored_keys,
)
from contracts.replay import Replay, State
from contracts.spec_model import SpecModel, stored_rows, when
from contracts.traffic import END_PATH, NIGHTLY_PATH, Key, Request


def check_honest(
    f: Findings, requests: list[Request], name: str, replay: Replay, numbers: list[int]
) -> None:
    """Every answer and stored friendship equals the scoring rules (docs/scoring.md) with
    its declared fallbacks."""
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
                    f"{name}: stored friendship {key} {where} differs from the scoring rules: "
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
                    f"the scoring rules decay {len(decayed)}: {sorted(decayed)}",
                )
            if body.get("rescored"):  # refactored re-scored degraded conversations: not modelled
                unmodelled |= rescored_keys(requests, replay, i)
            continue
        if req.path != END_PATH or req.body is None or answer["status"] != 200:
            continue
        key = (req.body["user_id"], req.body["agent_id"])
        degraded = degraded_fields(answer)
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
                f"{name}: #{numbers[i]} {req_line(req)}\n  answer differs from the scoring rules "
                f"with fallbacks {degraded}:"
                + answers_text(name, answer, "scoring rules", {"status": 200, "body": want}),
            )
    compare_state(replay.state, "final", None)
