"""Legacy in-process on a real PostgreSQL, with the LLM/Memory API/webhook faked by respx."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx

from legacy.main import create_app

LLM = "http://llm.test"
MEMORY = "http://memory.test"
WEBHOOK = "http://webhook.test/chat"

DEFAULT_ANSWERS: dict[str, Any] = {
    "emotion": {"emotion": "positive"},
    "questions": {"user_questions": 1},
    "topics": {"topics": ["music", "food"]},
    "activities": {"activities": [{"title": "Sing", "reason": "You like music."}]},
    "summary": {"summary": "Good friends who talk about music."},
}


@dataclass
class FakeDeps:
    """What the fakes answer (a dict per task, or an httpx.Response to fail) and what they saw."""

    answers: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_ANSWERS))
    memory_status: int = 200
    webhook_down: bool = False
    llm_delay_s: float = 0.0
    llm_tasks: list[str] = field(default_factory=list)
    llm_bodies: list[dict] = field(default_factory=list)
    cards: list[dict] = field(default_factory=list)

    def llm(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        task = body["messages"][0]["content"].splitlines()[0].removeprefix("TASK: ")
        self.llm_tasks.append(task)
        self.llm_bodies.append(body)
        if self.llm_delay_s:
            time.sleep(self.llm_delay_s)  # runs in the caller's thread, like a slow LLM
        answer = self.answers[task]
        if isinstance(answer, httpx.Response):
            return answer
        content = json.dumps(answer)
        return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})

    def memory(self, request: httpx.Request) -> httpx.Response:
        if self.memory_status != 200:
            return httpx.Response(self.memory_status)
        return httpx.Response(200, json={"results": []})

    def webhook(self, request: httpx.Request) -> httpx.Response:
        if self.webhook_down:
            raise httpx.ConnectError("webhook down", request=request)
        self.cards.append(json.loads(request.content))
        return httpx.Response(200, json={})

    def card_titles(self) -> list[str]:
        return [c["cards"][0]["header"]["title"] for c in self.cards]


@pytest.fixture
def fakes() -> Iterator[FakeDeps]:
    deps = FakeDeps()
    with respx.mock(assert_all_called=False) as mock:
        mock.post(f"{LLM}/chat/completions").mock(side_effect=deps.llm)
        mock.post(f"{MEMORY}/v1/memories/").mock(side_effect=deps.memory)
        mock.post(WEBHOOK).mock(side_effect=deps.webhook)
        yield deps


AppFactory = Callable[..., Any]


@pytest.fixture
def legacy_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "LLM_BASE_URL": LLM,
        "MEMORY_API_URL": MEMORY,
        "ALERT_WEBHOOK_URL": WEBHOOK,
        "NIGHTLY_SCHEDULER_ENABLED": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AMQP_URL", raising=False)
    monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    return env


@pytest.fixture
async def api(legacy_env: dict[str, str], fakes: FakeDeps) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://legacy") as client:
            yield client


def conversation(
    conversation_id: str = "c1",
    ended_at: str = "2025-01-01T10:00:00+00:00",
    user_messages: int = 3,
    user_id: str = "u1",
    agent_id: str = "a1",
) -> dict[str, Any]:
    messages = [
        {"role": "user", "content": f"I love music? #{i}", "ts": "2025-01-01T09:30:00Z"}
        for i in range(user_messages)
    ]
    messages.append({"role": "assistant", "content": "Nice!", "ts": "2025-01-01T09:31:00Z"})
    return {
        "conversation_id": conversation_id,
        "user_id": user_id,
        "agent_id": agent_id,
        "started_at": "2025-01-01T09:00:00",
        "ended_at": ended_at,
        "messages": messages,
    }
