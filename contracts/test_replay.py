"""Service level, Diffy-style: replay the same traffic through both real services and compare.

Both services run under gunicorn (1 worker) on their own fresh database, against the
same fake LLM and Memory API, one after the other with a fake reset in between so
each sees the same fake state and the same fault schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chaos.fakes.testing import FakeHandle, start_fake
from contracts.profiles import current
from contracts.replay import ADMIN_TOKEN, Request, first_divergence, generate, send, snapshot
from contracts.report import RUN
from harness.postgres import temporary_database
from harness.processes import ProcessGroup
from harness.services import start_service

pytestmark = pytest.mark.contracts
SECRET = "contract-secret-key-0123456789abcdef0123456789ab"  # 48 chars
assert len(SECRET) == 48


@pytest.fixture
def fakes(processes: ProcessGroup) -> Iterator[dict[str, FakeHandle]]:
    yield {"llm": start_fake(processes, "llm"), "memory": start_fake(processes, "memory")}


def run_target(
    processes: ProcessGroup,
    pg_admin_url: str,
    fakes: dict[str, FakeHandle],
    target: str,
    requests: list[Request],
    faults: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    for handle in fakes.values():
        handle.control.reset()
    if faults:
        fakes["llm"].control.set_faults(faults)
    with temporary_database(pg_admin_url) as db:
        env = {
            "DATABASE_URL": db,
            "LLM_BASE_URL": fakes["llm"].base_url,
            "MEMORY_API_URL": fakes["memory"].base_url,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SECRET_KEY": SECRET,
            "NIGHTLY_SCHEDULER_ENABLED": "false",
            "TIME_SCALE": "0.01",
            # refactored-only protection, not part of the contract: deep replays send > 100/min
            "RATE_LIMIT_ENABLED": "false",
        }
        service = start_service(processes, target, env, workers=1, timeout_s=30)
        try:
            answers = send(service.base_url, requests)
            state = snapshot(db)
        finally:
            service.process.stop()
    RUN.requests_replayed += len(requests)
    return answers, state


def _compare(name: str, requests: list[Request], a: tuple[Any, Any], b: tuple[Any, Any]) -> None:
    where = first_divergence(requests, a[0], b[0])
    if where is None and a[1] != b[1]:
        where = "final DB state differs:\n" + "\n".join(
            f"  {t}: A={a[1][t]}\n       B={b[1][t]}" for t in a[1] if a[1][t] != b[1][t]
        )
    if where is not None:
        RUN.add_mismatch(name, f"{len(requests)} requests", [where])
        raise AssertionError(f"{name}: {where}")


@pytest.mark.parametrize(
    "pair",
    [("legacy", "legacy"), ("legacy", "refactored")],
    ids=["calibration-legacy-vs-legacy", "legacy-vs-refactored"],
)
def test_replay_gives_identical_answers_and_state(
    processes: ProcessGroup,
    pg_admin_url: str,
    fakes: dict[str, FakeHandle],
    pair: tuple[str, str],
) -> None:
    profile = current()
    for seed in range(profile.sequences):
        requests = generate(seed, profile.requests_per_sequence)
        a = run_target(processes, pg_admin_url, fakes, pair[0], requests)
        b = run_target(processes, pg_admin_url, fakes, pair[1], requests)
        RUN.sequences_replayed += 1
        assert any(r["status"] == 200 for r in a[0]), "the replay must really score something"
        _compare("-vs-".join(pair), requests, a, b)


FAULTS = {"error": {"status": 429, "mode": "every_nth", "n": 3, "retry_after_s": 0}}


def _conversation_results(requests: list[Request], answers: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    """(index, friendship key, answer) of every conversation-end request, in order."""
    for i, (req, ans) in enumerate(zip(requests, answers, strict=True)):
        if req.path == "/v1/conversations/end" and req.body is not None:
            yield i, (req.body["user_id"], req.body["agent_id"]), ans


def test_replay_under_llm_429s_keeps_scores_identical_where_both_succeed(
    processes: ProcessGroup, pg_admin_url: str, fakes: dict[str, FakeHandle]
) -> None:
    requests = generate(1000, current().requests_per_sequence)
    clean_ref, _ = run_target(processes, pg_admin_url, fakes, "refactored", requests)
    legacy, _ = run_target(processes, pg_admin_url, fakes, "legacy", requests, FAULTS)
    refactored, _ = run_target(processes, pg_admin_url, fakes, "refactored", requests, FAULTS)
    RUN.sequences_replayed += 1
    assert fakes["llm"].control.stats()["responses_by_status"].get("429", 0) > 0, "no fault"

    # a friendship is comparable until its first answer that differs in status or degraded:
    # from there on both versions score from different stored states, legitimately
    tainted: set[tuple[str, str]] = set()
    compared, problems = 0, []
    for (i, key, a), (_, _, b) in zip(
        _conversation_results(requests, legacy),
        _conversation_results(requests, refactored),
        strict=True,
    ):
        if key in tainted:
            continue
        if (
            a["status"] != 200
            or b["status"] != 200
            or a["body"]["degraded"] != b["body"]["degraded"]
        ):
            tainted.add(key)
            continue
        compared += 1
        if a["body"] != b["body"]:
            problems.append(f"#{i} {requests[i].body}\n  legacy: {a}\n  refactored: {b}")
    # refactored with faults vs without: a difference must be explained by `degraded`
    explained: set[tuple[str, str]] = set()
    for (i, key, faulty), (_, _, clean) in zip(
        _conversation_results(requests, refactored),
        _conversation_results(requests, clean_ref),
        strict=True,
    ):
        if faulty["status"] != 200 or faulty["body"]["degraded"]:
            explained.add(key)
        if key not in explained and faulty["body"] != clean["body"]:
            problems.append(f"#{i} refactored changed without degraded:\n  {faulty}\n  {clean}")
    if problems:
        RUN.add_mismatch("faults-429-every-3rd", f"{len(requests)} requests", problems)
    assert not problems, "\n".join(problems)
    print(f"compared {compared} conversations; tainted friendships: {sorted(tainted)}")
    assert compared > 0, "no conversation was comparable: the check proved nothing"
