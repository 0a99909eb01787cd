"""Characterization: legacy under gunicorn (1 worker) with the real fakes, proving the 3am bugs.

Figures measured here are printed (run with ``-s``) and recorded in docs/legacy.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from legacy.services.friendship_service import compute_score_update
from testbed.fakes import FakeControl, start_fake
from testbed.postgres import temporary_database
from testbed.processes import ProcessGroup
from testbed.services import ServiceHandle, start_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LLM_DELAY_S = 2.0
STORM_REQUESTS = 2


@dataclass
class Stack:
    legacy: ServiceHandle
    llm: FakeControl
    webhook: FakeControl


@pytest.fixture(scope="module")
def stack_processes(
    pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ProcessGroup, str]]:
    """Fakes and legacy start once for the module (a few seconds each on a busy machine)."""
    with (
        temporary_database(pg_admin_url) as database_url,
        ProcessGroup(tmp_path_factory.mktemp("legacy-logs")) as group,
    ):
        yield group, database_url


@pytest.fixture(scope="module")
def running(stack_processes: tuple[ProcessGroup, str]) -> Stack:
    processes, database_url = stack_processes
    llm = start_fake(processes, "llm")
    memory = start_fake(processes, "memory")
    webhook = start_fake(processes, "webhook")
    env = {
        "DATABASE_URL": database_url,
        "LLM_BASE_URL": llm.base_url,
        "MEMORY_API_URL": memory.base_url,
        "ALERT_WEBHOOK_URL": f"{webhook.base_url}/",
        "NIGHTLY_SCHEDULER_ENABLED": "false",
    }
    legacy = start_service(processes, "legacy", env, workers=1, timeout_s=120)
    return Stack(legacy, llm.control, webhook.control)


@pytest.fixture
def stack(running: Stack) -> Iterator[Stack]:
    """Each test starts with no faults and zeroed counters; tests use distinct users."""
    running.llm.reset()
    running.webhook.reset()
    yield running
    running.llm.clear_faults()  # release anything still waiting in the fake


def conversation(conversation_id: str) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "user_id": f"user-{conversation_id}",
        "agent_id": "a1",
        "started_at": "2025-01-01T09:00:00Z",
        "ended_at": "2025-01-01T10:00:00Z",
        "messages": [
            {
                "role": "user",
                "content": "I love music and pho, do you?",
                "ts": "2025-01-01T09:00:00Z",
            },
            {"role": "assistant", "content": "Yes!", "ts": "2025-01-01T09:01:00Z"},
            {"role": "user", "content": "Great, I am so happy", "ts": "2025-01-01T09:02:00Z"},
        ],
    }


def end_in_background(base_url: str, conversation_id: str, results: list[httpx.Response]):
    def run() -> None:
        results.append(
            httpx.post(
                f"{base_url}/v1/conversations/end", json=conversation(conversation_id), timeout=120
            )
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def timed_health(client: httpx.Client) -> float:
    started = time.monotonic()
    response = client.get("/health")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    return elapsed


def test_end_to_end_with_the_real_fakes(stack: Stack) -> None:
    base = stack.legacy.base_url
    response = httpx.post(f"{base}/v1/conversations/end", json=conversation("e2e"), timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["degraded"] == []
    expected = compute_score_update(
        None, body, user_message_count=2, ended_at=datetime(2025, 1, 1, 10, tzinfo=UTC)
    )
    assert body["score_delta"] == expected["score_delta"]
    assert body["friendship_score"] == expected["friendship_score"]
    assert stack.llm.stats()["calls_by_task"] == {"emotion": 1, "questions": 1, "topics": 1}
    friendship = httpx.get(f"{base}/v1/friendships/user-e2e/a1").json()
    assert friendship["friendship_score"] == body["friendship_score"]
    assert [t["topic"] for t in friendship["topics"]] == body["topics"]
    replay = httpx.post(f"{base}/v1/conversations/end", json=conversation("e2e"), timeout=60)
    assert replay.json() == body
    assert stack.llm.stats()["calls_total"] == 3, "the replay called no dependency"
    activities = httpx.post(
        f"{base}/v1/activities/suggest", json={"user_id": "user-e2e", "agent_id": "a1", "limit": 2}
    ).json()
    assert activities["source"] == "llm" and 1 <= len(activities["activities"]) <= 2
    nightly = httpx.post(
        f"{base}/v1/admin/nightly",
        json={"now": "2025-01-01T12:00:00Z"},
        headers={"Authorization": "Bearer admin"},
        timeout=60,
    ).json()
    assert nightly["summaries_refreshed"] >= 1, nightly  # other tests' friendships count too
    assert nightly["summaries_failed"] == 0
    assert httpx.get(f"{base}/v1/friendships/user-e2e/a1").json()["summary"]


def test_slow_llm_freezes_health(stack: Stack) -> None:
    """A1: one request waiting on a slow LLM blocks the worker's event loop, /health included."""
    base = stack.legacy.base_url
    # one client, connection kept alive: the figure is the server's, not TLS/pool set-up
    probe = httpx.Client(base_url=base, timeout=60)
    baseline = min(timed_health(probe) for _ in range(3))
    stack.llm.set_faults({"latency_ms": int(LLM_DELAY_S * 1000)})
    results: list[httpx.Response] = []
    thread = end_in_background(base, "slow-1", results)
    wait_until(lambda: stack.llm.stats()["in_flight"] >= 1, 30, "the LLM call to start")
    frozen = timed_health(probe)
    probe.close()
    thread.join(timeout=60)
    print(f"\nhealth baseline {baseline:.3f}s; with LLM delay {LLM_DELAY_S}s: {frozen:.3f}s")
    assert results and results[0].status_code == 200
    assert baseline < 0.2 * LLM_DELAY_S, "sanity: /health is fast when nothing is slow"
    assert frozen >= 0.5 * LLM_DELAY_S, "legacy bug A1: /health waits for the LLM"


def test_429_storm_multiplies_llm_calls(stack: Stack) -> None:
    """B1: every 429 is retried 10 times at a fixed 0.2 s, ignoring Retry-After."""
    base = stack.legacy.base_url
    stack.llm.set_faults({"error": {"status": 429, "mode": "all", "retry_after_s": 5.0}})
    started = time.monotonic()
    results: list[httpx.Response] = []
    threads = [end_in_background(base, f"storm-{i}", results) for i in range(STORM_REQUESTS)]
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    calls = stack.llm.stats()["calls_total"]
    print(
        f"\n429 storm: {STORM_REQUESTS} requests -> {calls} LLM calls "
        f"({calls / STORM_REQUESTS:.1f} per request) in {elapsed:.1f}s"
    )
    assert [r.status_code for r in results] == [200] * STORM_REQUESTS
    assert all(r.json()["degraded"] == ["emotion", "questions", "topics"] for r in results)
    assert calls >= 5 * STORM_REQUESTS, "legacy bug B1: retry storm on 429"
    p2_cards = [c for c in stack.webhook.cards() if c["level"] == "P2"]
    assert len(p2_cards) == STORM_REQUESTS, "legacy bug: one P2 card per request, not batched"
