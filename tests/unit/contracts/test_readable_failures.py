"""The contract tier's traffic and failure output: sequences, schedules, field-by-field diffs."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta

import pytest

from contracts.adapters import field_diff
from contracts.divergence import compare_replays, divergence_text, first_diverging_index
from contracts.fallbacks import (
    FAULT_FREE_USERS,
    expected_fallbacks,
    fallback_schedule,
    faulted_task,
)
from contracts.replay import Replay
from contracts.report import ContractRun, write_report
from contracts.traffic import END_PATH, NIGHTLY_1, NIGHTLY_2, NIGHTLY_PATH, Request, generate

pytestmark = pytest.mark.unit


def test_first_divergence_names_the_request_and_the_fields() -> None:
    reqs = [Request("GET", "/a"), Request("POST", "/b", {"x": 1})]
    same = {"status": 200, "body": {"score": 1}}
    left = [same, {"status": 200, "body": {"score": 5, "level": "s"}}]
    right = [same, {"status": 200, "body": {"score": 6, "level": "s"}}]
    index = first_diverging_index(left, right)
    assert index == 1
    text = divergence_text(reqs, left, right, index)
    assert "request #1" in text and "score: 5 != 6" in text
    assert "level" not in text.split("score")[-1]
    assert first_diverging_index([same, same], [same, same]) is None


def test_field_diff_recurses_into_topic_metrics() -> None:
    diff = field_diff({"t": {"food": {"mentions": 1}}}, {"t": {"food": {"mentions": 2}}})
    assert diff == ["t.food.mentions: legacy=1 refactored=2"]


def test_generated_sequences_are_deterministic_and_rich() -> None:
    seq = generate(7, 80)
    assert seq == generate(7, 80) and len(seq) == 80
    paths = {r.path.split("/")[2] for r in seq}
    assert {"conversations", "friendships", "activities", "admin"} <= paths
    ids = [r.body["conversation_id"] for r in seq if r.body and "conversation_id" in r.body]
    assert len(ids) > len(set(ids)), "some conversation_id must repeat"


@pytest.mark.parametrize("seed", [0, 7])
def test_each_nightly_has_friendships_active_in_its_last_24_hours(seed: int) -> None:
    seq = generate(seed, 80)
    nights = [i for i, r in enumerate(seq) if r.path == NIGHTLY_PATH]
    assert [seq[i].body["now"] for i in nights] == [NIGHTLY_1.isoformat(), NIGHTLY_2.isoformat()]
    assert nights[-1] == len(seq) - 1
    for night, start in zip(nights, [0, nights[0]], strict=True):
        now = datetime.fromisoformat(seq[night].body["now"])
        ends = [
            datetime.fromisoformat(r.body["ended_at"])
            for r in seq[start:night]
            if r.path == END_PATH and r.body
        ]
        assert any(now - timedelta(hours=24) <= e <= now for e in ends), "summary window empty"
        assert all(e <= now for e in ends)
    early = [r.body["ended_at"] for r in seq[: nights[0]] if r.path == END_PATH and r.body]
    assert any(datetime.fromisoformat(e) <= NIGHTLY_2 - timedelta(hours=72) for e in early)


def test_the_fallback_schedule_is_deterministic_and_spaced() -> None:
    seq = fallback_schedule(generate(3, 80))
    assert seq == fallback_schedule(generate(3, 80))
    assert [r.body for r in seq] == [r.body for r in generate(3, 80)]
    assert all(r.faults is not None for r in seq), "every request says its faults ({} = none)"
    faulted = [i for i, r in enumerate(seq) if r.faults and r.path == END_PATH]
    kinds = {
        next(iter(seq[i].faults)) + str(sorted(expected_fallbacks(seq[i].faults))) for i in faulted
    }
    assert kinds == {"llm['emotion']", "llm['questions']", "llm['topics']", "memory['memory']"}
    seen: set[str] = set()
    firsts = []  # first occurrences of a conversation_id: the ones that call the LLM
    for i, r in enumerate(seq):
        if r.path == END_PATH and r.body and r.body["conversation_id"] not in seen:
            seen.add(r.body["conversation_id"])
            firsts.append(i)
    assert not any(seq[i].faults for i in firsts if seq[i].body["user_id"] in FAULT_FREE_USERS)
    firsts_llm = list(firsts)  # every new conversation calls the LLM
    firsts = [i for i in firsts if seq[i].body["user_id"] not in FAULT_FREE_USERS]
    assert set(faulted) <= set(firsts), "only new conversations are faulted"
    gaps = {firsts.index(b) - firsts.index(a) for a, b in itertools.pairwise(faulted)}
    assert gaps == {3}, "two unfaulted new conversations between faulted ones (breaker)"
    calls_llm = sorted({*firsts_llm, *(i for i, r in enumerate(seq) if r.path != END_PATH)})
    calls_llm = [i for i in calls_llm if seq[i].method != "GET"]
    calls_llm = calls_llm[:-1]  # the last nightly: all its summary calls fail anyway
    for n, i in enumerate(calls_llm[:-1]):  # between two faulted LLM requests, one succeeds
        if "llm" in (seq[i].faults or {}):
            assert "llm" not in (seq[calls_llm[n + 1]].faults or {}), (i, calls_llm[n + 1])
    assert any(faulted_task(r.faults, "activities") for r in fallback_schedule(generate(0, 40)))
    assert faulted_task(seq[-1].faults, "summary"), "the last nightly's summaries fail"
    assert not any(faulted_task(r.faults, "summary") for r in seq[:-1])


def test_compare_replays_names_the_friendship_of_a_db_only_difference() -> None:
    reqs = [Request("POST", END_PATH, {"conversation_id": "c", "user_id": "u", "agent_id": "a"})]
    answers = [{"status": 200, "body": {"score": 1}}]
    row = {"user_id": "u", "agent_id": "a", "score": 1, "summary": None}
    a = Replay(answers, {"friendships": [row]})
    b = Replay(answers, {"friendships": [{**row, "summary": "x"}]})
    found = compare_replays(reqs, a, b)
    assert found is not None and found.index is None and found.key == ("u", "a")
    assert "friendships[u, a].summary: None != 'x'" in found.text
    assert compare_replays(reqs, a, a) is None


def test_report_files(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path))
    run = ContractRun(profile="fast")
    run.count_example("score")
    run.add_mismatch("score", "case", ["score: legacy=1 refactored=2"])
    run.add_counts("faults", {"refactored.honest_checked_degraded": 2})
    run.add_counts("faults", {"refactored.honest_checked_degraded": 3})
    run.minimisation_replays = 4
    run_dir = write_report(run, 1.0)
    assert run_dir is not None and run_dir.parent == tmp_path / "contracts"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["examples_total"] == 1 and summary["mismatch_count"] == 1
    report = (run_dir / "report.md").read_text()
    assert "score: legacy=1 refactored=2" in report
    assert "- faults: refactored.honest_checked_degraded=5" in report
    assert "(minimisation: 4 replays)" in report
    assert summary["checks"] == {"faults": {"refactored.honest_checked_degraded": 5}}
