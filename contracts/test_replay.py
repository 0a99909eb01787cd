"""Service level, Diffy-style: replay the same traffic through both real services and compare.

Both services run under gunicorn (1 worker) on their own fresh database, against the
same fake LLM and Memory API, one after the other with a fake reset in between so
each sees the same fake state and the same fault schedule. A mismatch is minimised
(:mod:`contracts.minimise`) and reported as the minimal request sequence, both
answers and the field-by-field diff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from contracts.divergence import compare_replays
from contracts.fallbacks import fallback_schedule
from contracts.fault_checks import Findings, check_under_faults
from contracts.minimise import minimise
from contracts.noise import KNOWN_DIFFERENCES
from contracts.owner_reuse import check_owner_reuse, owner_reuses, reuse_across_owners
from contracts.profiles import current
from contracts.replay import Replay, send, snapshot
from contracts.report import RUN
from contracts.traffic import ADMIN_TOKEN, NIGHTLY_PATH, Key, Request, generate
from testbed.fakes import FakeHandle, start_fake
from testbed.postgres import temporary_database
from testbed.processes import ProcessGroup
from testbed.services import start_service

pytestmark = pytest.mark.contracts
SECRET = "contract-secret-key-0123456789abcdef0123456789ab"  # 48 chars
assert len(SECRET) == 48
# every 3rd LLM call answers 429 once (Retry-After 0): both versions retry and succeed
FAULTS_429 = {"error": {"status": 429, "mode": "every_nth", "n": 3, "retry_after_s": 0}}
# fault-free refactored replays, reused by the fault checks: (seed, length) -> Replay
_CLEAN: dict[tuple[int, int], Replay] = {}


@pytest.fixture
def fakes(processes: ProcessGroup) -> Iterator[dict[str, FakeHandle]]:
    yield {"llm": start_fake(processes, "llm"), "memory": start_fake(processes, "memory")}


def run_target(
    processes: ProcessGroup,
    pg_admin_url: str,
    fakes: dict[str, FakeHandle],
    target: str,
    requests: list[Request],
    llm_faults: dict[str, Any] | None = None,
    request_faults: bool = False,
    snapshot_at: Sequence[int] = (),
) -> Replay:
    """Replay on a fresh DB; ``llm_faults`` for the whole run, ``request_faults``: each
    request's own faults. The DB is snapshotted before every nightly, before each request
    of ``snapshot_at`` and at the end."""
    for handle in fakes.values():
        handle.control.reset()
    if llm_faults:
        fakes["llm"].control.set_faults(llm_faults)
    nightlies = sorted(
        {i for i, r in enumerate(requests) if r.path == NIGHTLY_PATH} | {*snapshot_at}
    )
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
            controls = {k: h.control for k, h in fakes.items()} if request_faults else None
            answers, before = send(
                service.base_url, requests, controls, nightlies, lambda: snapshot(db)
            )
            state = snapshot(db)
        finally:
            service.process.stop()
    RUN.requests_replayed += len(requests)
    return Replay(answers, state, before)


def _clean_refactored(
    processes: ProcessGroup,
    pg_admin_url: str,
    fakes: dict[str, FakeHandle],
    seed: int,
    requests: list[Request],
) -> Replay:
    key = (seed, len(requests))
    if key not in _CLEAN:
        _CLEAN[key] = run_target(processes, pg_admin_url, fakes, "refactored", requests)
    return _CLEAN[key]


def _fail_minimised(
    check: str,
    requests: list[Request],
    failure: str,
    key: Key | None,
    fails: Callable[[list[Request], list[int]], str | None],
) -> None:
    """Minimise the failing sequence, record it in the report, fail the test with it."""

    def replay(indices: list[int]) -> str | None:
        RUN.minimisation_replays += 1
        return fails([requests[i] for i in indices], indices)

    profile = current()
    found = minimise(
        requests, failure, key, replay, profile.minimise_replays, profile.minimise_seconds
    )
    text = found.report(requests)
    RUN.add_mismatch(check, text.split("\n", 1)[0], text.split("\n")[1:])
    raise AssertionError(f"{check}: {text}")


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
    refreshed = 0

    def run(target: str, requests: list[Request], seed: int | None = None) -> Replay:
        if target == "refactored" and seed is not None:
            return _clean_refactored(processes, pg_admin_url, fakes, seed, requests)
        return run_target(processes, pg_admin_url, fakes, target, requests)

    def fails(sub: list[Request], numbers: list[int]) -> str | None:
        found = compare_replays(sub, run(pair[0], sub), run(pair[1], sub), numbers)
        return found.text if found else None

    for seed in range(profile.sequences):
        requests = generate(seed, profile.requests_per_sequence)
        assert not owner_reuses(requests), (
            "generated traffic reuses a conversation id across owners: known difference "
            f"idempotency_per_owner ({KNOWN_DIFFERENCES['idempotency_per_owner']}), "
            "proven apart by test_conversation_id_reused_by_another_owner_differs_as_named"
        )
        a = run(pair[0], requests, seed)
        b = run(pair[1], requests, seed)
        RUN.sequences_replayed += 1
        assert any(r["status"] == 200 for r in a.answers), "the replay must really score something"
        refreshed += sum(
            ans["body"].get("summaries_refreshed", 0)
            for req, ans in zip(requests, a.answers, strict=True)
            if req.path == NIGHTLY_PATH and isinstance(ans["body"], dict)
        )
        mismatch = compare_replays(requests, a, b)
        if mismatch is not None:
            _fail_minimised("-vs-".join(pair), requests, mismatch.text, mismatch.key, fails)
    RUN.add_counts("-vs-".join(pair), {"summaries_refreshed": refreshed})
    assert refreshed > 0, "no nightly refreshed a summary: the summary rule was not contracted"


def test_conversation_id_reused_by_another_owner_differs_as_named(
    processes: ProcessGroup, pg_admin_url: str, fakes: dict[str, FakeHandle]
) -> None:
    """The known difference ``idempotency_per_owner`` (contracts/noise.py), exactly: a
    generated sequence, then ids re-sent by other owners (contracts/owner_reuse.py)."""
    base = generate(0, current().requests_per_sequence)
    requests = reuse_across_owners(base)
    start = len(base)
    assert len(owner_reuses(requests)) == 8, "4 ids re-sent by another owner, each replayed"
    legacy = run_target(processes, pg_admin_url, fakes, "legacy", requests, snapshot_at=[start])
    refactored = run_target(
        processes, pg_admin_url, fakes, "refactored", requests, snapshot_at=[start]
    )
    RUN.sequences_replayed += 1
    problems, counts = check_owner_reuse(requests, start, legacy, refactored)
    RUN.add_counts("known-difference-idempotency-per-owner", counts)
    if problems:
        RUN.add_mismatch("known-difference-idempotency-per-owner", problems[0], problems[1:])
    assert not problems, "\n".join(problems)
    assert counts["reuses"] == 4 and counts["replays"] == 4 and counts["reads"] >= 2


def _fault_check(
    processes: ProcessGroup,
    pg_admin_url: str,
    fakes: dict[str, FakeHandle],
    check: str,
    requests: list[Request],
    seed: int,
    llm_faults: dict[str, Any] | None,
) -> Findings:
    """Refactored fault-free, then both versions with the faults; every check of
    :func:`contracts.fault_checks.check_under_faults`; a problem fails, minimised."""
    per_request = llm_faults is None

    def replays(sub: list[Request], clean: Replay | None = None) -> tuple[Replay, Replay, Replay]:
        clean = clean or run_target(processes, pg_admin_url, fakes, "refactored", sub)
        legacy = run_target(processes, pg_admin_url, fakes, "legacy", sub, llm_faults, per_request)
        refactored = run_target(
            processes, pg_admin_url, fakes, "refactored", sub, llm_faults, per_request
        )
        return clean, legacy, refactored

    def fails(sub: list[Request], numbers: list[int]) -> str | None:
        found = check_under_faults(sub, *replays(sub), numbers).problems
        return "\n".join(p.text for p in found) if found else None

    clean = _clean_refactored(processes, pg_admin_url, fakes, seed, requests)
    _, legacy, refactored = replays(requests, clean)
    RUN.sequences_replayed += 1
    stats = fakes["llm"].control.stats()["responses_by_status"]  # of the last run
    assert set(stats) - {"200"}, f"{check}: no fault was injected: {stats}"
    findings = check_under_faults(requests, clean, legacy, refactored)
    RUN.add_counts(check, dict(findings.counts))
    if findings.problems:
        first = findings.problems[0]
        text = "\n".join(p.text for p in findings.problems)
        _fail_minimised(check, requests, text, first.key, fails)
    print(f"{check} seed {seed}: {dict(sorted(findings.counts.items()))}")
    return findings


@pytest.mark.timeout(600)  # deep: 3 x 200 requests, legacy sleeps 0.2 s per 429 (~180 s)
def test_replay_under_llm_429s_keeps_scores_identical_where_both_succeed(
    processes: ProcessGroup, pg_admin_url: str, fakes: dict[str, FakeHandle]
) -> None:
    profile = current()
    for seed in range(profile.fault_sequences):
        requests = generate(seed, profile.requests_per_sequence)
        counts = _fault_check(
            processes, pg_admin_url, fakes, "faults-429-every-3rd", requests, seed, FAULTS_429
        ).counts
        assert counts["legacy_vs_refactored.conversations_compared"] > 0, "nothing compared"
        assert counts["refactored_vs_clean.conversations_compared"] > 0, "nothing compared"


@pytest.mark.timeout(600)  # room for a minimisation (120 s in deep) after the replays
def test_replay_with_fallbacks_is_honest_and_identical_where_comparable(
    processes: ProcessGroup, pg_admin_url: str, fakes: dict[str, FakeHandle]
) -> None:
    """Persistent faults on chosen requests (``fallback_schedule``): refactored falls back."""
    profile = current()
    for seed in range(profile.fault_sequences):
        requests = fallback_schedule(generate(seed, profile.requests_per_sequence))
        counts = _fault_check(
            processes, pg_admin_url, fakes, "faults-fallbacks", requests, seed, None
        ).counts
        # the schedule must really exercise what it claims to
        assert counts["refactored.faulted_conversations"] > 0
        assert counts["refactored.honest_checked_degraded"] > 0, "no fallback checked vs §5"
        assert counts["legacy_vs_refactored.compared_degraded"] > 0, "no degraded answer compared"
        assert counts["refactored_vs_clean.conversations_compared"] > 0
        assert counts["refactored_vs_clean.db_rows_compared"] > 0, "no friendship kept to the end"
        assert counts["refactored.summaries_kept"] > 0, "no old summary kept under faults"
        assert counts["refactored.faulted_activities"] > 0, "no activities fallback"
