"""A tiny deterministic stand-in for the LLM and Memory API wire formats (for respx/MockTransport).

Not the project's fake (doubles.fakes): just enough to answer every task so the
refactored service's HTTP adapters can be exercised in process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

POSITIVE = ("love", "great", "happy", "thanks", "good")
NEGATIVE = ("hate", "sad", "bad", "angry", "awful")
TOPICS = {
    "music": ("song", "music"),
    "food": ("pizza", "food", "eat"),
    "travel": ("trip", "travel"),
    "work": ("work", "job"),
}


def _user_texts(content: str) -> list[str]:
    return [m["content"].lower() for m in json.loads(content) if m["role"] == "user"]


def answer(task: str, content: str) -> dict[str, Any]:
    if task == "emotion":
        texts = _user_texts(content)
        hits = sum(any(w in t for w in POSITIVE) for t in texts) - sum(
            any(w in t for w in NEGATIVE) for t in texts
        )
        emotion = (
            "very_positive"
            if hits >= 3
            else "positive"
            if hits > 0
            else "neutral"
            if hits == 0
            else "negative"
            if hits > -3
            else "very_negative"
        )
        return {"emotion": emotion}
    if task == "questions":
        return {"user_questions": sum("?" in t for t in _user_texts(content))}
    if task == "topics":
        texts = " ".join(_user_texts(content))
        return {
            "topics": sorted(t for t, words in TOPICS.items() if any(w in texts for w in words))
        }
    if task == "activities":
        ctx = json.loads(content)
        return {
            "activities": [
                {"title": f"Talk about {t}", "reason": "you like it"} for t in ctx["topics"]
            ][: ctx["limit"]]
        }
    if task == "summary":
        ctx = json.loads(content)
        return {"summary": f"A {ctx['friendship_level']} at {ctx['friendship_score']}."}
    raise AssertionError(task)


def completion(payload: dict[str, Any]) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": json.dumps(payload)}}]}


@dataclass
class FakeDependencies:
    """Handles LLM and Memory API requests; ``fail`` maps a task to a status code to answer."""

    fail: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    retry_after: str = "0"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/v1/memories/"):
            self.calls.append("memory")
            if "memory" in self.fail:
                return httpx.Response(self.fail["memory"])
            return httpx.Response(200, json={"results": []})
        body = json.loads(request.content)
        task = body["messages"][0]["content"].splitlines()[0].removeprefix("TASK: ")
        self.calls.append(task)
        status = self.fail.get(task, self.fail.get("*"))
        if status is not None:
            headers = {"Retry-After": self.retry_after} if status == 429 else {}
            return httpx.Response(status, headers=headers, json={"error": {"message": "x"}})
        return httpx.Response(200, json=completion(answer(task, body["messages"][1]["content"])))
