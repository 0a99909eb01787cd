"""In-process clients of the fakes (httpx.ASGITransport: no socket, no process)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from doubles.fakes import llm, memory, webhook


async def _client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        yield client


@pytest.fixture
async def llm_client() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(llm.create_app()):
        yield client


@pytest.fixture
async def memory_client() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(memory.create_app()):
        yield client


@pytest.fixture
async def webhook_client() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(webhook.create_app()):
        yield client


def conversation(*user_texts: str, assistant: str = "") -> list[dict[str, str]]:
    """User messages in order, with an assistant reply (ignored by the fake) after each."""
    messages = []
    for text in user_texts:
        messages.append({"role": "user", "content": text, "ts": "2025-01-01T10:00:00+00:00"})
        messages.append({"role": "assistant", "content": assistant, "ts": "2025-01-01T10:00:01"})
    return messages


def chat_body(task: str, user_content: Any) -> dict[str, Any]:
    return {
        "model": "llama-3.1-8b-instant",
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": f"TASK: {task}\nAnswer with a JSON object."},
            {"role": "user", "content": json.dumps(user_content)},
        ],
    }


async def ask(client: httpx.AsyncClient, task: str, user_content: Any) -> httpx.Response:
    return await client.post("/chat/completions", json=chat_body(task, user_content))


async def answer_of(client: httpx.AsyncClient, task: str, user_content: Any) -> Any:
    response = await ask(client, task, user_content)
    assert response.status_code == 200, response.text
    return json.loads(response.json()["choices"][0]["message"]["content"])
