"""Realistic generated conversations, English and Vietnamese, for the conversation enders.

The fake LLM scores them deterministically (sentiment lexicon, question marks,
topic keywords), so the generator mixes moods, questions and topics the way a
real evening of chats would. Pure functions of a ``random.Random``: a seeded
generator gives the same traffic twice.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

ENGLISH_LINES = {
    "positive": [
        "I had a great day, the concert was amazing",
        "I love this new song, it makes me so happy",
        "Dinner with my family was wonderful tonight",
        "Work went well, my boss said the project is excellent",
    ],
    "negative": [
        "I feel sad and tired after work today",
        "The trip was terrible, our flight got cancelled",
        "I am stressed about my exam, it is awful",
        "My team lost the football match, I hate that",
    ],
    "neutral": [
        "I watched a movie and then cooked some noodles",
        "Tomorrow I will go to the gym before work",
        "We talked about games and travel plans",
        "I studied for a while and went for a walk",
    ],
}
ENGLISH_QUESTIONS = [
    "What music do you like?",
    "Have you ever been to Da Nang?",
    "Can you recommend a good movie?",
    "How do I get better at studying?",
]
VIETNAMESE_LINES = {
    "positive": [
        "Hôm nay mình rất vui, bữa ăn tối thật ngon",
        "Mình thích bài hát này lắm, tuyệt vời",
        "Chuyến du lịch Đà Lạt thật tuyệt",
    ],
    "negative": [
        "Mình buồn quá, công việc hôm nay mệt mỏi",
        "Trận bóng đá tối qua thật tệ",
        "Mình lo lắng về kỳ thi sắp tới",
    ],
    "neutral": [
        "Tối nay mình xem phim với gia đình",
        "Cuối tuần mình định đi du lịch",
        "Mình đang học bài và nghe nhạc",
    ],
}
VIETNAMESE_QUESTIONS = [
    "Bạn thích nghe nhạc gì?",
    "Bạn đã từng đi du lịch Hội An chưa?",
    "Món ăn nào bạn thích nhất?",
]
ASSISTANT_LINES = [
    "That sounds interesting, tell me more.",
    "I am here for you.",
    "Mình hiểu, kể thêm cho mình nghe nhé.",
    "What happened next?",
]


def make_conversation(
    rng: random.Random,
    *,
    conversation_id: str,
    user_id: str,
    agent_id: str,
    now: datetime | None = None,
    late_sync_fraction: float = 0.05,
) -> dict[str, Any]:
    """One ``POST /v1/conversations/end`` body.

    A small ``late_sync_fraction`` of conversations ended days ago (a phone that
    synced late), which gives the nightly job friendships to decay.
    """
    now = now or datetime.now(UTC)
    vietnamese = rng.random() < 0.4
    lines = VIETNAMESE_LINES if vietnamese else ENGLISH_LINES
    questions = VIETNAMESE_QUESTIONS if vietnamese else ENGLISH_QUESTIONS
    mood = rng.choices(["positive", "neutral", "negative"], weights=[5, 3, 2])[0]
    turns = rng.randint(2, 12)
    late = rng.random() < late_sync_fraction
    ended_at = now - timedelta(days=rng.randint(4, 10)) if late else now
    started_at = ended_at - timedelta(seconds=30 * turns)
    messages = []
    for i in range(turns):
        ts = (started_at + timedelta(seconds=30 * i)).isoformat()
        user_text = rng.choice(questions) if rng.random() < 0.3 else rng.choice(lines[mood])
        messages.append({"role": "user", "content": user_text, "ts": ts})
        if rng.random() < 0.8:
            messages.append({"role": "assistant", "content": rng.choice(ASSISTANT_LINES), "ts": ts})
    return {
        "conversation_id": conversation_id,
        "user_id": user_id,
        "agent_id": agent_id,
        "started_at": started_at.isoformat(),
        "ended_at": ended_at.isoformat(),
        "messages": messages,
    }
