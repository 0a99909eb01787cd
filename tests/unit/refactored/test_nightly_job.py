"""The nightly job's rules with in-memory fakes: decay, re-score once, summaries, bulkhead."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from refactored.application.ports import Message
from refactored.application.use_cases.end_conversation import (
    EndConversation,
    EndConversationCommand,
)
from refactored.application.use_cases.nightly_job import NightlyJob
from tests.unit.refactored.app_harness import conversation, running, unit_overrides
from tests.unit.refactored.fake_llm import FakeDependencies
from tests.unit.refactored.fakes import FakeAnalyzer, FakeMemory, FixedClock, InMemoryStore

pytestmark = pytest.mark.unit
T0 = datetime(2025, 1, 1, 10, tzinfo=UTC)


def command(cid: str, user: str = "u1", ended_at: datetime = T0) -> EndConversationCommand:
    messages = (Message("user", "hi?", T0), Message("assistant", "hello", T0))
    return EndConversationCommand(
        cid, user, "a1", ended_at - timedelta(minutes=5), ended_at, messages
    )


def services(
    analyzer: FakeAnalyzer, store: InMemoryStore, **job: object
) -> tuple[EndConversation, NightlyJob]:
    clock = FixedClock(T0)
    end = EndConversation(store, analyzer, FakeMemory(), clock)
    return end, NightlyJob(store, analyzer, clock, **job)  # type: ignore[arg-type]


async def test_degraded_conversation_is_rescored_once_when_the_llm_is_back() -> None:
    store, analyzer = InMemoryStore(), FakeAnalyzer(failing={"*"})
    end, nightly = services(analyzer, store)
    degraded = await end(command("c1"))
    assert degraded["degraded"] == ["emotion", "questions", "topics"]
    assert degraded["score_delta"] == 0  # neutral, 0 questions, no topics, 1 user message

    still_failing = await nightly(T0 + timedelta(hours=1))
    assert still_failing.rescored == 0

    analyzer.failing.clear()
    report = await nightly(T0 + timedelta(hours=2))
    assert report.rescored == 1
    friendship = store.data.friendships[("u1", "a1")]
    assert friendship.score == 5 + 2 + 3  # positive, one question, one new topic
    assert set(friendship.topic_metrics) == {"food"}
    rescore_events = [e for e in store.data.events if e.get("reason") == "rescore"]
    assert [e["score_delta"] for e in rescore_events] == [10]

    again = await nightly(T0 + timedelta(hours=3))
    assert again.rescored == 0  # applied once
    assert store.data.friendships[("u1", "a1")].score == 10
    # the stored answer of the conversation never changes (idempotent replay)
    assert await end(command("c1")) == degraded


async def test_partially_degraded_conversation_asks_only_what_failed() -> None:
    store, analyzer = InMemoryStore(), FakeAnalyzer(failing={"emotion"})
    end, nightly = services(analyzer, store)
    first = await end(command("c1"))
    assert first["degraded"] == ["emotion"]
    analyzer.failing.clear()
    analyzer.calls.clear()
    assert (await nightly(T0 + timedelta(hours=1))).rescored == 1
    assert [c for c in analyzer.calls if c != "summary"] == ["emotion"]
    assert store.data.friendships[("u1", "a1")].score == first["friendship_score"] + 5


async def test_decay_and_summaries() -> None:
    store, analyzer = InMemoryStore(), FakeAnalyzer()
    end, nightly = services(analyzer, store)
    await end(command("old", user="old", ended_at=T0 - timedelta(days=5)))
    await end(command("new", user="new"))
    report = await nightly(T0 + timedelta(hours=1))
    assert (report.decayed, report.summaries_refreshed, report.summaries_failed) == (1, 1, 0)
    assert store.data.friendships[("new", "a1")].summary == "summary of new"
    analyzer.failing.add("summary")
    failed = await nightly(T0 + timedelta(hours=2))
    assert (failed.decayed, failed.summaries_failed) == (0, 1)
    assert store.data.friendships[("new", "a1")].summary == "summary of new"  # kept


@pytest.mark.parametrize("bulkhead", [True, False], ids=["enabled", "disabled"])
async def test_job_bulkhead_bounds_concurrent_transactions(bulkhead: bool) -> None:
    store, analyzer = InMemoryStore(), FakeAnalyzer()
    end, nightly = services(analyzer, store, bulkhead=bulkhead, concurrency=2)
    for i in range(10):
        await end(command(f"c{i}", user=f"u{i}"))
    store.max_in_flight = 0
    analyzer.delay = 0.01
    report = await nightly(T0 + timedelta(hours=1))
    assert report.summaries_refreshed == 10
    if bulkhead:
        assert store.max_in_flight <= 2
    else:
        assert store.max_in_flight == 10  # one held transaction per friendship, like legacy


async def test_run_is_bounded_even_with_many_friendships() -> None:
    store, analyzer = InMemoryStore(), FakeAnalyzer()
    end, nightly = services(analyzer, store, concurrency=3, batch_size=4)
    for i in range(9):
        await end(command(f"c{i}", user=f"u{i}", ended_at=T0 - timedelta(days=4)))
    report = await asyncio.wait_for(nightly(T0), timeout=10)
    assert report.decayed == 9


async def test_scheduler_skips_the_night_when_another_worker_holds_the_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from contextlib import asynccontextmanager

    from refactored.infrastructure import scheduler

    runs: list[str] = []
    sleeps = 0

    async def fake_sleep(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps > 2:
            raise asyncio.CancelledError

    @asynccontextmanager
    async def held_elsewhere():  # type: ignore[no-untyped-def]
        yield sleeps == 2  # the first night another worker has it, the second night we do

    async def job() -> None:
        runs.append("ran")

    monkeypatch.setattr(scheduler, "sleep", fake_sleep)
    with pytest.raises(asyncio.CancelledError):
        await scheduler.run_daily(job, 3, 1.0, held_elsewhere)
    assert runs == ["ran"]


async def test_nightly_summary_fails_now_when_the_llm_asks_to_wait_past_the_cap() -> None:
    """Through the app: RETRY_AFTER_MAX_S (scaled) caps Retry-After outside any request deadline.

    The admin endpoint is exempt from the request deadline, so without the cap the job
    would sleep the hour the LLM asks for (up to JOB_TIMEOUT_S) before its fallback.
    """
    sleeps: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    deps = FakeDependencies(retry_after="3600")
    overrides = unit_overrides(retry_sleep=recording_sleep)
    async with running(deps, overrides, retry_after_max_s=60) as (_, client):  # 60 ms scaled
        assert (await client.post("/v1/conversations/end", json=conversation())).status_code == 200
        deps.fail["summary"] = 429
        response = await client.post(
            "/v1/admin/nightly",
            headers={"Authorization": "Bearer secret-token"},
            json={"now": "2025-01-01T12:00:00Z"},
        )
    assert response.status_code == 200
    assert response.json()["summaries_failed"] == 1
    assert deps.calls.count("summary") == 1  # not retried
    assert sleeps == []
