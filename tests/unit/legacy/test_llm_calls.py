"""Legacy's LLM and Memory API calls: normalisation, fallbacks and the naive 429 loop."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
import respx

from legacy.config import Settings
from legacy.services import http_client
from legacy.services.llm_analysis_utils import (
    analyze_conversation,
    extract_memories_from_api,
    normalise_questions,
    normalise_topics,
    suggest_activities_llm,
)

pytestmark = pytest.mark.unit

LLM = "http://llm.test"
MEMORY = "http://memory.test"
SETTINGS = Settings(
    database_url="postgresql://unused/db",
    llm_base_url=LLM,
    llm_api_key="k",
    llm_model="m",
    memory_api_url=MEMORY,
    memory_api_key="",
    amqp_url=None,
    alert_webhook_url=None,
    secret_key="change-me-in-production",
    env="development",
    admin_token="admin",
    nightly_scheduler_enabled=False,
    log_level="INFO",
)
MESSAGES = [{"role": "user", "content": "hi?", "ts": datetime(2025, 1, 1, tzinfo=UTC)}]


def completion(content: object) -> httpx.Response:
    text = content if isinstance(content, str) else json.dumps(content)
    return httpx.Response(200, json={"choices": [{"message": {"content": text}}]})


def by_task(answers: dict[str, httpx.Response]):
    def handler(request: httpx.Request) -> httpx.Response:
        system = json.loads(request.content)["messages"][0]["content"]
        return answers[system.splitlines()[0].removeprefix("TASK: ")]

    return handler


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(http_client.time, "sleep", slept.append)
    return slept


def test_topics_normalised() -> None:
    raw = [" Music", "food", "FOOD", "", "   ", "x" * 33, 7, "b", "a", "c", "d"]
    assert normalise_topics(raw) == ["a", "b", "c", "d", "food"]


@pytest.mark.parametrize("bad", [True, -1, 1.0, "2", None])
def test_questions_must_be_a_non_negative_int(bad: object) -> None:
    with pytest.raises(ValueError):
        normalise_questions(bad)


@respx.mock
def test_three_calls_in_order_with_wire_format() -> None:
    route = respx.post(f"{LLM}/chat/completions").mock(
        side_effect=by_task(
            {
                "emotion": completion({"emotion": "positive"}),
                "questions": completion({"user_questions": 1}),
                "topics": completion({"topics": ["Music"]}),
            }
        )
    )
    analysis, degraded = analyze_conversation(SETTINGS, MESSAGES)
    assert analysis == {"emotion": "positive", "user_questions": 1, "topics": ["music"]}
    assert degraded == []
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert [b["messages"][0]["content"].splitlines()[0] for b in bodies] == [
        "TASK: emotion",
        "TASK: questions",
        "TASK: topics",
    ]
    assert bodies[0]["response_format"] == {"type": "json_object"}
    assert json.loads(bodies[0]["messages"][1]["content"]) == [
        {"role": "user", "content": "hi?", "ts": "2025-01-01T00:00:00+00:00"}
    ]
    assert route.calls[0].request.headers["authorization"] == "Bearer k"


@respx.mock
def test_failures_become_fallbacks_in_order() -> None:
    respx.post(f"{LLM}/chat/completions").mock(
        side_effect=by_task(
            {
                "emotion": completion({"emotion": "ecstatic"}),
                "questions": httpx.Response(503),
                "topics": completion("not json"),
            }
        )
    )
    analysis, degraded = analyze_conversation(SETTINGS, MESSAGES)
    assert analysis == {"emotion": "neutral", "user_questions": 0, "topics": []}
    assert degraded == ["emotion", "questions", "topics"]


@respx.mock
def test_429_is_retried_ten_times_with_fixed_sleep_ignoring_retry_after(
    no_sleep: list[float],
) -> None:
    route = respx.post(f"{LLM}/chat/completions").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "30"})
    )
    _, degraded = analyze_conversation(SETTINGS, MESSAGES)
    assert route.call_count == 30  # 3 tasks x 10 attempts
    assert no_sleep == [0.2] * 27  # no sleep after the last attempt of each task
    assert degraded == ["emotion", "questions", "topics"]


@respx.mock
def test_429_then_success_uses_the_answer(no_sleep: list[float]) -> None:
    respx.post(f"{LLM}/chat/completions").mock(
        side_effect=[httpx.Response(429)] * 3 + [completion({"activities": []})]
    )
    assert suggest_activities_llm(SETTINGS, {}, 3) == []
    assert no_sleep == [0.2] * 3


@respx.mock
def test_activities_drop_invalid_items_and_keep_limit() -> None:
    items = [
        {"title": "", "reason": "r"},
        {"title": "a", "reason": 1},
        {"title": "b", "reason": ""},
        "x",
        {"title": "c", "reason": "r"},
        {"title": "d", "reason": "r"},
    ]
    respx.post(f"{LLM}/chat/completions").mock(return_value=completion({"activities": items}))
    assert suggest_activities_llm(SETTINGS, {}, 2) == [
        {"title": "b", "reason": ""},
        {"title": "c", "reason": "r"},
    ]


@respx.mock
def test_memory_api_failure_means_skipped() -> None:
    route = respx.post(f"{MEMORY}/v1/memories/")
    route.mock(return_value=httpx.Response(200, json={"results": []}))
    assert extract_memories_from_api(SETTINGS, "u", "a", MESSAGES) is True
    assert json.loads(route.calls[0].request.content) == {
        "user_id": "u",
        "agent_id": "a",
        "messages": [{"role": "user", "content": "hi?"}],
    }
    assert "authorization" not in route.calls[0].request.headers
    route.mock(return_value=httpx.Response(500))
    assert extract_memories_from_api(SETTINGS, "u", "a", MESSAGES) is False
    route.mock(return_value=httpx.Response(200, json={"oops": 1}))
    assert extract_memories_from_api(SETTINGS, "u", "a", MESSAGES) is False


def test_client_has_no_timeout() -> None:
    # The incident's root cause: nothing bounds a slow dependency.
    assert http_client.client.timeout == httpx.Timeout(None)
