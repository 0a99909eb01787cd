"""Every fault mode of the shared control API, driven on the fake LLM in-process."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from doubles.fakes.control import MALFORMED_BODY, Hangs, conversation_key
from tests.unit.fakes.conftest import ask, chat_body, conversation

pytestmark = pytest.mark.unit

MESSAGES = conversation("I love music?")


async def put_faults(client: httpx.AsyncClient, faults: dict[str, Any]) -> dict[str, Any]:
    response = await client.put("/_control/faults", json=faults)
    assert response.status_code == 200, response.text
    return response.json()


async def stats(client: httpx.AsyncClient) -> dict[str, Any]:
    return (await client.get("/_control/stats")).json()


async def statuses(client: httpx.AsyncClient, calls: int, task: str = "emotion") -> list[int]:
    return [(await ask(client, task, MESSAGES)).status_code for _ in range(calls)]


async def poll(predicate: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_no_faults_by_default(llm_client: httpx.AsyncClient) -> None:
    faults = (await llm_client.get("/_control/faults")).json()
    assert faults == {
        "latency_ms": 0,
        "hang": False,
        "error": None,
        "malformed": None,
        "tasks": None,
    }
    assert await statuses(llm_client, 3) == [200, 200, 200]


async def test_latency_delays_each_matching_call(llm_client: httpx.AsyncClient) -> None:
    await put_faults(llm_client, {"latency_ms": 300})
    started = time.monotonic()
    response = await ask(llm_client, "emotion", MESSAGES)
    delayed = time.monotonic() - started
    assert response.status_code == 200
    assert delayed >= 0.29  # asyncio.sleep never returns early
    await llm_client.delete("/_control/faults")
    started = time.monotonic()
    await ask(llm_client, "emotion", MESSAGES)
    assert time.monotonic() - started < delayed


async def test_hang_waits_until_faults_are_cleared(llm_client: httpx.AsyncClient) -> None:
    await put_faults(llm_client, {"hang": True})
    call = asyncio.create_task(ask(llm_client, "emotion", MESSAGES))

    async def hung() -> bool:
        return (await stats(llm_client))["in_flight"] == 1

    await poll(hung, "the call to hang")
    await asyncio.sleep(0.3)  # still hung well past the poll interval of the hang loop
    assert not call.done()
    await llm_client.delete("/_control/faults")
    response = await asyncio.wait_for(call, timeout=10)
    assert response.status_code == 200  # released: answers as a healthy server
    after = await stats(llm_client)
    assert after["in_flight"] == 0
    assert after["max_in_flight"] == 1
    assert after["responses_by_status"] == {"200": 1}
    assert after["hangs"] == {
        "held": 1,
        "released": 1,
        "cut": 0,
        "cut_after_s": [],
        "released_after_s": after["hangs"]["released_after_s"],
        "cut_after_s_max": None,
        "conversations": after["hangs"]["conversations"],
    }
    assert after["hangs"]["released_after_s"][0] >= 0.3
    (conversation,) = after["hangs"]["conversations"]
    assert conversation["released"] and conversation["span_s"] >= 0.3


def test_hangs_record_how_long_a_call_was_held_before_its_caller_cut_it() -> None:
    hangs = Hangs(held=3)
    hangs.on_end(1.5004, cut=True)
    hangs.on_end(0.2, cut=True)
    hangs.on_end(9.0, cut=False)  # released when the faults changed: not cut
    assert hangs.as_json() == {
        "held": 3,
        "released": 1,
        "cut": 2,
        "cut_after_s": [1.5, 0.2],
        "released_after_s": [9.0],
        "cut_after_s_max": 1.5,
        "conversations": [],
    }


def test_hangs_group_a_conversations_calls_from_the_first_held_to_the_last_end() -> None:
    a = conversation_key(json.dumps(chat_body("emotion", "[1]")).encode())
    assert a == conversation_key(json.dumps(chat_body("topics", "[1]")).encode())
    assert a != conversation_key(json.dumps(chat_body("emotion", "[2]")).encode())
    assert conversation_key(b"not json") is None and conversation_key(None) is None
    hangs = Hangs()
    hangs.on_hold(a)
    hangs.on_hold(a)  # two tasks of one conversation, in parallel
    hangs.on_hold("b")
    hangs.on_end(1.5, cut=True, conversation=a)
    assert hangs.as_json()["conversations"] == []  # a call of each is still held
    hangs.on_end(1.5, cut=True, conversation=a)
    hangs.on_end(3.0, cut=False, conversation="b")
    spans = hangs.as_json()["conversations"]
    assert [s["released"] for s in spans] == [False, True]
    assert all(s["span_s"] >= 0 for s in spans)
    assert hangs.held == 3


async def test_reset_releases_a_hang_too(llm_client: httpx.AsyncClient) -> None:
    await put_faults(llm_client, {"hang": True})
    call = asyncio.create_task(ask(llm_client, "emotion", MESSAGES))

    async def hung() -> bool:
        return (await stats(llm_client))["in_flight"] == 1

    await poll(hung, "the call to hang")
    await llm_client.post("/_control/reset")
    assert (await asyncio.wait_for(call, timeout=10)).status_code == 200
    assert (await stats(llm_client))["in_flight"] == 0


async def test_429_for_all_calls_with_retry_after_and_openai_body(
    llm_client: httpx.AsyncClient,
) -> None:
    await put_faults(llm_client, {"error": {"status": 429, "retry_after_s": 2}})
    response = await ask(llm_client, "topics", MESSAGES)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    error = response.json()["error"]
    assert error["type"] == error["code"] == "rate_limit_exceeded"
    assert error["message"]
    await put_faults(llm_client, {"error": {"status": 429, "retry_after_s": 0.1}})
    assert (await ask(llm_client, "topics", MESSAGES)).headers["Retry-After"] == "0.1"


async def test_every_nth_counts_from_when_faults_were_set(llm_client: httpx.AsyncClient) -> None:
    await statuses(llm_client, 2)  # calls before the faults do not count
    await put_faults(llm_client, {"error": {"status": 429, "mode": "every_nth", "n": 3}})
    assert await statuses(llm_client, 7) == [200, 200, 429, 200, 200, 429, 200]
    await put_faults(llm_client, {"error": {"status": 429, "mode": "every_nth", "n": 3}})
    assert await statuses(llm_client, 3) == [200, 200, 429]  # a new config starts again


async def test_fraction_is_reproducible_with_its_seed(llm_client: httpx.AsyncClient) -> None:
    faults = {"error": {"status": 429, "mode": "fraction", "fraction": 0.5, "seed": 7}}
    await put_faults(llm_client, faults)
    first = await statuses(llm_client, 40)
    await put_faults(llm_client, faults)
    second = await statuses(llm_client, 40)
    draws = random.Random(7)
    expected = [429 if draws.random() < 0.5 else 200 for _ in range(40)]
    assert first == second == expected
    assert 0 < first.count(429) < 40


async def test_5xx_has_an_openai_style_body(llm_client: httpx.AsyncClient) -> None:
    await put_faults(llm_client, {"error": {"status": 503}})
    response = await ask(llm_client, "emotion", MESSAGES)
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "server_error"
    await put_faults(llm_client, {"error": {"status": 500}})
    response = await ask(llm_client, "emotion", MESSAGES)
    assert response.status_code == 500
    assert "Retry-After" not in response.headers


async def test_malformed_is_a_200_that_is_not_json(llm_client: httpx.AsyncClient) -> None:
    await put_faults(llm_client, {"malformed": {"mode": "every_nth", "n": 2}})
    good, bad = await ask(llm_client, "emotion", MESSAGES), await ask(llm_client, "emotion", [])
    assert good.json()["choices"]
    assert bad.status_code == 200
    assert bad.content == MALFORMED_BODY
    with pytest.raises(ValueError):
        bad.json()


async def test_tasks_restrict_the_faults(llm_client: httpx.AsyncClient) -> None:
    await put_faults(llm_client, {"error": {"status": 429}, "tasks": ["emotion"]})
    assert await statuses(llm_client, 2, task="emotion") == [429, 429]
    assert await statuses(llm_client, 2, task="topics") == [200, 200]


async def test_counters_by_task_and_final_status(llm_client: httpx.AsyncClient) -> None:
    await put_faults(llm_client, {"error": {"status": 429, "mode": "every_nth", "n": 2}})
    await statuses(llm_client, 3, task="emotion")
    await statuses(llm_client, 1, task="topics")
    await llm_client.get("/health")  # never counted
    counted = await stats(llm_client)
    assert counted["calls_total"] == 4
    assert counted["calls_by_task"] == {"emotion": 3, "topics": 1}
    assert counted["responses_by_status"] == {"200": 2, "429": 2}
    assert counted["in_flight"] == 0
    await llm_client.post("/_control/reset")
    assert (await stats(llm_client))["calls_total"] == 0
    assert (await llm_client.get("/_control/faults")).json()["error"] is None


async def test_health_is_never_faulted(llm_client: httpx.AsyncClient) -> None:
    await put_faults(llm_client, {"error": {"status": 500}, "latency_ms": 5000})
    response = await asyncio.wait_for(llm_client.get("/health"), timeout=2)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("faults", "complaint"),
    [
        ({"latency_ms": -1}, "latency_ms"),
        ({"error": {"status": 200}}, "error.status"),
        ({"error": {"mode": "every_nth"}}, "needs 'n'"),
        ({"error": {"mode": "fraction"}}, "needs 'fraction'"),
        ({"error": {"mode": "fraction", "fraction": 1.5}}, "error.fraction"),
        ({"malformed": {"mode": "sometimes"}}, "malformed.mode"),
        ({"latency": 100}, "latency"),  # a typo is not silently ignored
        ([], "body"),
    ],
)
async def test_invalid_fault_config_is_422(
    llm_client: httpx.AsyncClient, faults: Any, complaint: str
) -> None:
    response = await llm_client.put("/_control/faults", json=faults)
    assert response.status_code == 422
    assert complaint in response.json()["detail"]
    assert (await llm_client.get("/_control/faults")).json()["latency_ms"] == 0


async def test_tasks_are_rejected_on_the_other_fakes(memory_client: httpx.AsyncClient) -> None:
    response = await memory_client.put("/_control/faults", json={"tasks": ["emotion"]})
    assert response.status_code == 422
    assert "fake LLM only" in response.json()["detail"]


async def test_memory_fake_has_the_same_faults(memory_client: httpx.AsyncClient) -> None:
    await memory_client.put("/_control/faults", json={"error": {"status": 503}})
    body = {"user_id": "u", "agent_id": "a", "messages": [{"role": "user", "content": "hi"}]}
    response = await memory_client.post("/v1/memories/", json=body)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    counted = (await memory_client.get("/_control/stats")).json()
    assert counted["responses_by_status"] == {"503": 1}
    assert counted["calls_by_task"] == {}


async def test_in_flight_counts_concurrent_calls(llm_client: httpx.AsyncClient) -> None:
    await put_faults(llm_client, {"latency_ms": 500})  # long enough for all 5 to overlap
    responses = await asyncio.gather(*(ask(llm_client, "emotion", MESSAGES) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    counted = await stats(llm_client)
    assert counted["max_in_flight"] == 5
    assert counted["in_flight"] == 0


async def test_stats_measure_the_wait_before_retrying_a_retry_after(
    llm_client: httpx.AsyncClient,
) -> None:
    """A retry (the same body again) after a 429: its wait as a fraction of Retry-After."""
    await put_faults(llm_client, {"error": {"status": 429, "mode": "all", "retry_after_s": 0.2}})
    await ask(llm_client, "emotion", MESSAGES)
    await ask(llm_client, "emotion", MESSAGES)  # at once: ignores the header
    hasty = (await stats(llm_client))["retries_after_error"]
    assert hasty["count"] == 1
    assert hasty["min_wait_over_retry_after"] < 0.9

    await llm_client.post("/_control/reset")
    await put_faults(llm_client, {"error": {"status": 429, "mode": "all", "retry_after_s": 0.2}})
    await ask(llm_client, "emotion", MESSAGES)
    await ask(llm_client, "topics", MESSAGES)  # another call: not a retry of the first
    await asyncio.sleep(0.25)
    await ask(llm_client, "emotion", MESSAGES)
    patient = (await stats(llm_client))["retries_after_error"]
    assert patient["count"] == 1
    assert patient["min_wait_over_retry_after"] >= 1.0
    assert patient["median_wait_over_retry_after"] >= 1.0


async def test_no_retry_waits_without_retry_after(llm_client: httpx.AsyncClient) -> None:
    await put_faults(llm_client, {"error": {"status": 500, "mode": "all"}})
    await ask(llm_client, "emotion", MESSAGES)
    await ask(llm_client, "emotion", MESSAGES)
    assert (await stats(llm_client))["retries_after_error"] == {
        "count": 0,
        "median_wait_over_retry_after": None,
        "min_wait_over_retry_after": None,
    }
