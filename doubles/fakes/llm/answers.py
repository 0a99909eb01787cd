"""The fake LLM's answer to each task (docs/conventions.md §6), a pure function of the request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from doubles.fakes.llm.lexicon import count_questions, emotion_of, sentiment_score, topics_in

TASKS = ("emotion", "questions", "topics", "activities", "summary")

ACTIVITY_BY_TOPIC: dict[str, tuple[str, str]] = {
    "music": ("Make a shared playlist", "You both enjoy talking about music."),
    "food": ("Cook a new recipe together", "Food comes up often in your chats."),
    "travel": ("Plan a dream trip", "You like talking about travel."),
    "work": ("Share one win from your week", "Work is a frequent topic for you."),
    "family": ("Share a family story", "Family matters to you."),
    "sports": ("Watch a match together", "You often talk about sports."),
    "movies": ("Start a two-person movie club", "Movies are a favourite topic."),
    "games": ("Play a quick online game", "You both like games."),
    "study": ("Set up a study session", "Study comes up a lot in your talks."),
    "health": ("Take a short walk together", "You care about staying healthy."),
}

GENERIC_ACTIVITIES: tuple[tuple[str, str], ...] = (
    ("Plan a virtual coffee chat", "A relaxed talk helps you connect."),
    ("Share a childhood memory", "Memories build trust."),
    ("Swap book recommendations", "Books reveal what matters to you."),
    ("Set a small weekly goal together", "Encouragement strengthens friendship."),
    ("Play a quick word game", "Playing together is a light way to bond."),
    ("Share your favourite song", "Music is an easy way to get to know each other."),
    ("Take a photo of your day", "Small moments make good conversation."),
    ("Talk about a favourite movie", "Stories you love say a lot about you."),
    ("Plan a weekend together", "Making plans gives you something to look forward to."),
    ("Ask each other three questions", "Curiosity brings people closer."),
)


class BadRequest(ValueError):
    """The request cannot be answered (400 with this message)."""


def _user_texts(payload: Any) -> list[str]:
    if not isinstance(payload, list):
        raise BadRequest("the user message must be a JSON list of {role, content, ts} messages")
    return [
        str(message.get("content", ""))
        for message in payload
        if isinstance(message, dict) and message.get("role") == "user"
    ]


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadRequest("the user message must be a JSON object for this task")
    return payload


def _topic_names(payload: dict[str, Any]) -> list[str]:
    topics = payload.get("topics") or []
    if not isinstance(topics, list):
        raise BadRequest("'topics' must be a list of strings")
    return [str(topic) for topic in topics]


def answer_emotion(payload: Any) -> dict[str, Any]:
    return {"emotion": emotion_of(sentiment_score(_user_texts(payload)))}


def answer_questions(payload: Any) -> dict[str, Any]:
    return {"user_questions": count_questions(_user_texts(payload))}


def answer_topics(payload: Any) -> dict[str, Any]:
    return {"topics": topics_in(_user_texts(payload))}


def answer_activities(payload: Any) -> dict[str, Any]:
    request = _object(payload)
    limit = request.get("limit", 3)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise BadRequest("'limit' must be an integer >= 0")
    chosen: list[tuple[str, str]] = []
    for topic in _topic_names(request):
        activity = ACTIVITY_BY_TOPIC.get(topic)
        if activity is not None and activity not in chosen:
            chosen.append(activity)
    chosen.extend(activity for activity in GENERIC_ACTIVITIES if activity not in chosen)
    return {"activities": [{"title": t, "reason": r} for t, r in chosen[:limit]]}


def answer_summary(payload: Any) -> dict[str, Any]:
    request = _object(payload)
    level = request.get("friendship_level", "stranger")
    score = request.get("friendship_score", 0)
    topics = _topic_names(request)
    talks = f"they talk about {', '.join(topics)}" if topics else "they have no common topics yet"
    return {"summary": f"Friendship level {level} with score {score}; {talks}."}


ANSWERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "emotion": answer_emotion,
    "questions": answer_questions,
    "topics": answer_topics,
    "activities": answer_activities,
    "summary": answer_summary,
}


def parse_task(body: Any) -> tuple[str, Any]:
    """(task, decoded user content) of a chat completion request; BadRequest if unusable."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise BadRequest("the body must be a JSON object with a 'messages' list")
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    system = next((m for m in messages if m.get("role") == "system"), None)
    if system is None:
        raise BadRequest("no system message: its first line must be 'TASK: <task>'")
    first_line = str(system.get("content", "")).split("\n", 1)[0].strip()
    if not first_line.startswith("TASK:"):
        raise BadRequest("the system message's first line must be 'TASK: <task>'")
    task = first_line.removeprefix("TASK:").strip()
    user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if user is None:
        raise BadRequest("no user message with the JSON input")
    try:
        content = json.loads(str(user.get("content", "")))
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the user message is not JSON: {exc}") from exc
    return task, content
