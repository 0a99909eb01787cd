"""LLM and Memory API calls (sync, in sequence) and the normalisation of their answers.

Every failure (429 after the retry loop, 5xx, malformed answer, connection error)
turns into its fallback value (docs/scoring.md); the caller names it in ``degraded``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from legacy.config import Settings
from legacy.services.http_client import post_json_with_retry

logger = logging.getLogger("legacy.llm")

EMOTIONS = ("very_negative", "negative", "neutral", "positive", "very_positive")
FALLBACK_EMOTION = "neutral"
FALLBACK_QUESTIONS = 0
MAX_TOPICS = 5
MAX_TOPIC_LENGTH = 32

INSTRUCTIONS = {
    "emotion": 'Classify the overall emotion of the user. Answer {"emotion": one of '
    + ", ".join(EMOTIONS)
    + "}.",
    "questions": 'Count the user messages that ask a question. Answer {"user_questions": n}.',
    "topics": 'List the topics the user talks about. Answer {"topics": [..]}.',
    "activities": 'Suggest activities for the user and the agent. Answer {"activities": '
    '[{"title": str, "reason": str}]}.',
    "summary": 'Summarise the relationship in one sentence. Answer {"summary": str}.',
}


class LlmAnswerError(ValueError):
    """The LLM answered, but not with the shape the task expects."""


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def invoke_llm(settings: Settings, task: str, user_content: str) -> dict[str, Any]:
    """Call the LLM for ``task`` and return the JSON object in the answer's content."""
    body = {
        "model": settings.llm_model,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": f"TASK: {task}\n{INSTRUCTIONS[task]}"},
            {"role": "user", "content": user_content},
        ],
    }
    answer = post_json_with_retry(
        f"{settings.llm_base_url}/chat/completions",
        body,
        {"Authorization": f"Bearer {settings.llm_api_key}"},
    )
    content = json.loads(answer["choices"][0]["message"]["content"])
    if not isinstance(content, dict):
        raise LlmAnswerError(f"{task}: content is not a JSON object")
    return content


def messages_json(messages: list[dict[str, Any]]) -> str:
    return json.dumps(
        [{"role": m["role"], "content": m["content"], "ts": iso(m["ts"])} for m in messages]
    )


def normalise_emotion(value: Any) -> str:
    if not isinstance(value, str) or value not in EMOTIONS:
        raise LlmAnswerError(f"bad emotion {value!r}")
    return value


def normalise_questions(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LlmAnswerError(f"bad user_questions {value!r}")
    return value


def normalise_topics(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise LlmAnswerError("topics is not a list")
    cleaned = set()
    for item in value:
        if isinstance(item, str):
            topic = item.strip().lower()
            if 0 < len(topic) <= MAX_TOPIC_LENGTH:
                cleaned.add(topic)
    return sorted(cleaned)[:MAX_TOPICS]


def _analyse(settings: Settings, task: str, key: str, payload: str, normalise: Any) -> Any:
    """One task; returns None when it failed (the caller applies the fallback)."""
    try:
        return normalise(invoke_llm(settings, task, payload).get(key))
    except Exception as exc:  # legacy: every error means "use the fallback"
        logger.warning("LLM task %s failed: %r", task, exc)
        return None


def analyze_conversation(
    settings: Settings, messages: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """Three sequential LLM calls; returns (analysis, degraded fields)."""
    payload = messages_json(messages)
    degraded: list[str] = []
    emotion = _analyse(settings, "emotion", "emotion", payload, normalise_emotion)
    if emotion is None:
        emotion = FALLBACK_EMOTION
        degraded.append("emotion")
    questions = _analyse(settings, "questions", "user_questions", payload, normalise_questions)
    if questions is None:
        questions = FALLBACK_QUESTIONS
        degraded.append("questions")
    topics = _analyse(settings, "topics", "topics", payload, normalise_topics)
    if topics is None:
        topics = []
        degraded.append("topics")
    return {"emotion": emotion, "user_questions": questions, "topics": topics}, degraded


def extract_memories_from_api(
    settings: Settings, user_id: str, agent_id: str, messages: list[dict[str, Any]]
) -> bool:
    """Store memories with the Memory API; False when it failed (memory extraction skipped)."""
    headers = (
        {"Authorization": f"Token {settings.memory_api_key}"} if settings.memory_api_key else {}
    )
    body = {
        "user_id": user_id,
        "agent_id": agent_id,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
    }
    try:
        answer = post_json_with_retry(f"{settings.memory_api_url}/v1/memories/", body, headers)
        if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
            raise LlmAnswerError("memory API answer has no results list")
    except Exception as exc:
        logger.warning("memory extraction failed: %r", exc)
        return False
    return True


def suggest_activities_llm(settings: Settings, context: dict[str, Any], limit: int) -> list[dict]:
    """Activities from the LLM, or [] when the call failed or no item was valid."""
    try:
        items = invoke_llm(settings, "activities", json.dumps(context)).get("activities")
    except Exception as exc:
        logger.warning("LLM task activities failed: %r", exc)
        return []
    if not isinstance(items, list):
        return []
    valid = [
        {"title": item["title"], "reason": item["reason"]}
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get("title"), str)
        and item["title"]
        and isinstance(item.get("reason"), str)
    ]
    return valid[:limit]


def summarize_relationship(settings: Settings, context: dict[str, Any]) -> str | None:
    """A new summary, or None when the call failed (the old summary stays)."""
    try:
        summary = invoke_llm(settings, "summary", json.dumps(context)).get("summary")
    except Exception as exc:
        logger.warning("LLM task summary failed: %r", exc)
        return None
    if not isinstance(summary, str) or not summary:
        return None
    return summary
