"""HttpxLlmAnalyzer: the OpenAI-compatible LLM behind the ConversationAnalyzer port."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
from opentelemetry import trace

from refactored.application.errors import LlmUnavailable
from refactored.application.events import iso
from refactored.application.ports import Message
from refactored.core.resilience.errors import CallFailed
from refactored.core.resilience.policy import DependencyPolicy
from refactored.domain.analysis import (
    Activity,
    InvalidAnswer,
    normalise_activities,
    normalise_emotion,
    normalise_questions,
    normalise_topics,
)
from refactored.infrastructure.http.clients import JsonPoster, endpoint
from refactored.infrastructure.http.responses import json_body, send

INSTRUCTIONS = {
    "emotion": 'Classify the user\'s overall emotion. Answer {"emotion": one of very_negative, '
    "negative, neutral, positive, very_positive}.",
    "questions": 'Count the user messages that ask a question. Answer {"user_questions": n}.',
    "topics": 'List the topics the user talked about (at most 5). Answer {"topics": [...]}.',
    "activities": 'Suggest activities for this friendship. Answer {"activities": '
    '[{"title": ..., "reason": ...}]}.',
    "summary": 'Summarise this relationship in one sentence. Answer {"summary": "..."}.',
}


def messages_json(messages: Sequence[Message]) -> str:
    return json.dumps([{"role": m.role, "content": m.content, "ts": iso(m.ts)} for m in messages])


class HttpxLlmAnalyzer:
    def __init__(
        self,
        client: httpx.AsyncClient,
        model: str,
        api_key: str,
        policy: DependencyPolicy,
        tracer: trace.Tracer | None = None,
    ) -> None:
        auth = {"Authorization": f"Bearer {api_key}"}
        self._post = JsonPoster(client, endpoint(client, "chat/completions"), auth)
        self._model = model
        self._policy = policy
        self._tracer = tracer or trace.get_tracer(__name__)

    async def _ask(self, task: str, user_content: str) -> dict[str, Any]:
        body = {
            "model": self._model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": f"TASK: {task}\n{INSTRUCTIONS[task]}"},
                {"role": "user", "content": user_content},
            ],
        }

        async def attempt() -> dict[str, Any]:
            with self._tracer.start_as_current_span(
                "llm.chat_completions", attributes={"task": task}
            ):
                response = await send(
                    lambda: self._post(body),
                    "llm",
                )
                return _content(json_body(response, "llm"))

        try:
            return await self._policy.call(attempt)
        except CallFailed as exc:
            raise LlmUnavailable(f"LLM {task}: {exc}") from exc

    async def _field(self, task: str, user_content: str, key: str, normalise: Any) -> Any:
        answer = await self._ask(task, user_content)
        try:
            return normalise(answer.get(key))
        except InvalidAnswer as exc:
            raise LlmUnavailable(f"LLM {task}: {exc}") from exc

    async def emotion(self, messages: Sequence[Message]) -> str:
        return await self._field(
            "emotion",
            messages_json(messages),
            "emotion",
            normalise_emotion,
        )

    async def user_questions(self, messages: Sequence[Message]) -> int:
        return await self._field(
            "questions",
            messages_json(messages),
            "user_questions",
            normalise_questions,
        )

    async def topics(self, messages: Sequence[Message]) -> tuple[str, ...]:
        return await self._field(
            "topics",
            messages_json(messages),
            "topics",
            normalise_topics,
        )

    async def activities(self, context: dict[str, Any], limit: int) -> tuple[Activity, ...]:
        return await self._field(
            "activities",
            json.dumps(context),
            "activities",
            lambda v: normalise_activities(v, limit),
        )

    async def summary(self, context: dict[str, Any]) -> str:
        def normalise(value: object) -> str:
            if not isinstance(value, str) or not value.strip():
                raise InvalidAnswer("summary must be a non-empty string")
            return value

        return await self._field("summary", json.dumps(context), "summary", normalise)


def _content(body: Any) -> dict[str, Any]:
    """``choices[0].message.content`` parsed as a JSON object, or a failed call."""
    try:
        content = body["choices"][0]["message"]["content"]
        parsed = json.loads(content)
    except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
        raise CallFailed("LLM answer has no JSON content") from exc
    if not isinstance(parsed, dict):
        raise CallFailed("LLM content is not a JSON object")
    return parsed
