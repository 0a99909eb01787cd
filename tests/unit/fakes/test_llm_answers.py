"""The fake LLM's deterministic answers (docs/conventions.md §6), in English and Vietnamese."""

from __future__ import annotations

import json

import httpx
import pytest

from doubles.fakes.llm.lexicon import emotion_of, sentiment_score, topics_in
from tests.unit.fakes.conftest import answer_of, ask, chat_body, conversation

pytestmark = pytest.mark.unit


async def test_english_conversation_exact_answers(llm_client: httpx.AsyncClient) -> None:
    messages = conversation("I love music and pho, do you?", "Great, I am so happy")
    assert await answer_of(llm_client, "emotion", messages) == {"emotion": "very_positive"}
    assert await answer_of(llm_client, "questions", messages) == {"user_questions": 1}
    assert await answer_of(llm_client, "topics", messages) == {"topics": ["food", "music"]}


async def test_vietnamese_conversation_with_and_without_diacritics(
    llm_client: httpx.AsyncClient,
) -> None:
    with_marks = conversation("Hôm nay tôi buồn và mệt vì công việc", "Bạn có thích du lịch không?")
    assert await answer_of(llm_client, "emotion", with_marks) == {"emotion": "negative"}
    assert await answer_of(llm_client, "questions", with_marks) == {"user_questions": 1}
    assert await answer_of(llm_client, "topics", with_marks) == {"topics": ["travel", "work"]}

    without_marks = conversation("hom nay toi buon va met moi vi cong viec", "di du lich khong?")
    assert await answer_of(llm_client, "emotion", without_marks) == {"emotion": "negative"}
    assert await answer_of(llm_client, "topics", without_marks) == {"topics": ["travel", "work"]}


async def test_only_user_messages_count(llm_client: httpx.AsyncClient) -> None:
    messages = [
        {"role": "assistant", "content": "I love music? Great? Happy?", "ts": "t"},
        {"role": "user", "content": "ok", "ts": "t"},
    ]
    assert await answer_of(llm_client, "emotion", messages) == {"emotion": "neutral"}
    assert await answer_of(llm_client, "questions", messages) == {"user_questions": 0}
    assert await answer_of(llm_client, "topics", messages) == {"topics": []}


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["love great happy"], "very_positive"),
        (["good", "nice"], "positive"),
        (["good bad"], "neutral"),
        (["sad"], "negative"),
        (["hate sad awful"], "very_negative"),
        (["không thích"], "negative"),  # the negated phrase wins over "thích"
        (["tôi thích phở, ngon tuyệt vời"], "very_positive"),
        (["Likeable"], "neutral"),  # whole words only: "like" is not in "likeable"
    ],
)
def test_emotion_thresholds_and_matching_rules(texts: list[str], expected: str) -> None:
    assert emotion_of(sentiment_score(texts)) == expected


def test_topics_are_capped_at_five_and_sorted() -> None:
    text = "music food travel work family sports movies games study health"
    assert topics_in([text]) == ["family", "food", "games", "health", "movies"]


async def test_same_input_same_output(llm_client: httpx.AsyncClient) -> None:
    messages = conversation("Tôi yêu bóng đá và phim", "what about chess?")
    first = [await answer_of(llm_client, task, messages) for task in ("emotion", "topics")]
    second = [await answer_of(llm_client, task, messages) for task in ("emotion", "topics")]
    assert first == second == [{"emotion": "positive"}, {"topics": ["games", "movies", "sports"]}]


async def test_activities_one_per_topic_then_generic(llm_client: httpx.AsyncClient) -> None:
    request = {
        "user_id": "u1",
        "agent_id": "a1",
        "friendship_level": "friend",
        "friendship_score": 300,
        "topics": ["travel", "music"],
        "limit": 3,
    }
    answer = await answer_of(llm_client, "activities", request)
    assert answer == {
        "activities": [
            {"title": "Plan a dream trip", "reason": "You like talking about travel."},
            {"title": "Make a shared playlist", "reason": "You both enjoy talking about music."},
            {"title": "Plan a virtual coffee chat", "reason": "A relaxed talk helps you connect."},
        ]
    }
    many = await answer_of(llm_client, "activities", {**request, "topics": [], "limit": 10})
    assert len(many["activities"]) == 10


async def test_summary_sentence(llm_client: httpx.AsyncClient) -> None:
    request = {
        "user_id": "u1",
        "agent_id": "a1",
        "friendship_level": "close_friend",
        "friendship_score": 650,
        "topics": ["food", "music"],
        "previous_summary": None,
    }
    assert await answer_of(llm_client, "summary", request) == {
        "summary": "Friendship level close_friend with score 650; they talk about food, music."
    }
    empty = await answer_of(llm_client, "summary", {**request, "topics": []})
    assert empty["summary"].endswith("they have no common topics yet.")


async def test_completion_object_shape(llm_client: httpx.AsyncClient) -> None:
    response = await llm_client.post(
        "/v1/chat/completions", json=chat_body("questions", conversation("a?", "b?"))
    )
    body = response.json()
    assert response.status_code == 200
    assert body["object"] == "chat.completion"
    assert body["model"] == "llama-3.1-8b-instant"
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int)
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert json.loads(body["choices"][0]["message"]["content"]) == {"user_questions": 2}
    assert body["usage"]["total_tokens"] > 0


async def test_unknown_task_is_an_openai_style_400(llm_client: httpx.AsyncClient) -> None:
    response = await ask(llm_client, "poetry", [])
    assert response.status_code == 400
    error = response.json()["error"]
    assert "unknown task 'poetry'" in error["message"]
    assert error["type"] == "invalid_request_error"
    stats = (await llm_client.get("/_control/stats")).json()
    assert stats["calls_by_task"] == {"poetry": 1}
    assert stats["responses_by_status"] == {"400": 1}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"messages": [{"role": "user", "content": "[]"}]}',
        b'{"messages": [{"role": "system", "content": "TASK: emotion"}]}',
        b'{"messages": [{"role": "system", "content": "TASK: emotion"}, '
        b'{"role": "user", "content": "{not json"}]}',
        b'{"messages": [{"role": "system", "content": "TASK: emotion"}, '
        b'{"role": "user", "content": "{\\"a\\": 1}"}]}',
    ],
)
async def test_unusable_requests_are_400(llm_client: httpx.AsyncClient, body: bytes) -> None:
    response = await llm_client.post("/chat/completions", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"]
