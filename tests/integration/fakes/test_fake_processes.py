"""Each fake as a real process (start_fake), driven over HTTP with the control clients."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from testbed.fakes import AsyncFakeControl, start_fake
from testbed.processes import ProcessGroup

pytestmark = pytest.mark.integration


def chat(task: str, content: object) -> dict[str, object]:
    return {
        "model": "m",
        "messages": [
            {"role": "system", "content": f"TASK: {task}"},
            {"role": "user", "content": json.dumps(content)},
        ],
    }


def poll(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_llm_process_answers_and_obeys_faults(processes: ProcessGroup) -> None:
    fake = start_fake(processes, "llm")
    messages = [{"role": "user", "content": "Tôi yêu âm nhạc?", "ts": "t"}]
    with httpx.Client(base_url=fake.base_url, timeout=10) as client:
        answer = client.post("/chat/completions", json=chat("topics", messages)).json()
        assert json.loads(answer["choices"][0]["message"]["content"]) == {"topics": ["music"]}

        active = fake.control.set_faults(error={"status": 429, "retry_after_s": 0.5})
        assert active["error"]["status"] == 429
        limited = client.post("/v1/chat/completions", json=chat("emotion", messages))
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "0.5"

        fake.control.clear_faults()
        assert client.post("/chat/completions", json=chat("emotion", messages)).status_code == 200
    stats = fake.control.stats()
    assert stats["calls_by_task"] == {"topics": 1, "emotion": 2}
    assert stats["responses_by_status"] == {"200": 2, "429": 1}
    with pytest.raises(ValueError, match="422"):
        fake.control.set_faults({"error": {"mode": "every_nth"}})


def test_hang_ends_when_the_client_disconnects(processes: ProcessGroup) -> None:
    fake = start_fake(processes, "llm")
    fake.control.set_faults(hang=True)
    body = json.dumps(chat("emotion", [])).encode()
    host, port = fake.base_url.removeprefix("http://").split(":")
    # a raw socket: we decide when the client goes away, whatever the machine's load
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(
            b"POST /chat/completions HTTP/1.1\r\nHost: fake\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        poll(lambda: fake.control.stats()["in_flight"] == 1, "the call to hang")

    def gave_up() -> bool:
        stats = fake.control.stats()
        return stats["in_flight"] == 0 and stats["responses_by_status"] == {"499": 1}

    poll(gave_up, "the fake to notice the disconnect (499, nothing in flight)")


def test_memory_and_webhook_processes(processes: ProcessGroup) -> None:
    memory = start_fake(processes, "memory")
    webhook = start_fake(processes, "webhook")
    body = {"user_id": "u", "agent_id": "a", "messages": [{"role": "user", "content": "phở"}]}
    first = httpx.post(f"{memory.base_url}/v1/memories/", json=body).json()
    second = httpx.post(f"{memory.base_url}/v1/memories/", json=body).json()
    assert [r["event"] for r in first["results"] + second["results"]] == ["ADD", "NONE"]

    card = {"cards": [{"header": {"title": "[P1] LLM 429 storm"}}]}
    assert httpx.post(f"{webhook.base_url}/v1/spaces/S/messages", json=card).status_code == 200
    assert [(c["level"], c["title"]) for c in webhook.control.cards()] == [
        ("P1", "[P1] LLM 429 storm")
    ]
    webhook.control.reset()
    assert webhook.control.cards() == []


def test_async_control_client(processes: ProcessGroup) -> None:
    fake = start_fake(processes, "llm")

    async def drive() -> dict[str, object]:
        control = AsyncFakeControl(fake.base_url)
        try:
            await control.set_faults({"latency_ms": 10, "tasks": ["summary"]})
            faults = await control.faults()
            await control.reset()
            assert (await control.faults())["tasks"] is None
            return faults
        finally:
            await control.aclose()

    assert asyncio.run(drive())["tasks"] == ["summary"]


def test_start_fake_rejects_unknown_kinds(processes: ProcessGroup) -> None:
    with pytest.raises(ValueError, match="unknown fake 'redis'"):
        start_fake(processes, "redis")  # type: ignore[arg-type]
