"""What the behavioural probe sends: request bodies of the service API (docs/conventions.md
§4), the route that calls each dependency, and how an answer says it used its fallback."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import httpx

DEPENDENCY_ROUTE = {"llm": "/v1/activities/suggest", "memory": "/v1/conversations/end"}
# the fake LLM's faults hit only the suggest route's task: the conversation route's LLM
# calls stay healthy, so the memory rounds run beside the LLM's without touching its breaker
FAULT_SCOPE: dict[str, dict[str, Any]] = {"llm": {"tasks": ["activities"]}, "memory": {}}

# how an answer says it used its fallback (the API's fields, docs/conventions.md §4)
FALLBACK_USED: dict[str, Callable[[dict[str, Any]], bool]] = {
    "llm": lambda body: body.get("source") == "fallback",
    "memory": lambda body: "memory" in str(body.get("degraded", "")),
}


def conversation(cid: str, user: str, agent: str = "probe-agent") -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "conversation_id": cid,
        "user_id": user,
        "agent_id": agent,
        "started_at": (now - dt.timedelta(minutes=10)).isoformat(),
        "ended_at": (now - dt.timedelta(minutes=1)).isoformat(),
        "messages": [
            {
                "role": "user",
                "content": "I love hiking and music. Do you?",
                "ts": (now - dt.timedelta(minutes=5)).isoformat(),
            },
            {
                "role": "assistant",
                "content": "I do!",
                "ts": (now - dt.timedelta(minutes=4)).isoformat(),
            },
        ],
    }


def suggest(user: str, agent: str = "probe-agent") -> dict[str, Any]:
    return {"user_id": user, "agent_id": agent, "limit": 3}


def dependency_body(dependency: str, user: str) -> dict[str, Any]:
    """The body of the route that calls ``dependency`` (DEPENDENCY_ROUTE)."""
    return conversation(unique("c"), user) if dependency == "memory" else suggest(user)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def answer_json(answer: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or {} when it is not one."""
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
