"""Generated conversations for the chaos load: English and Vietnamese, never negative.

The words are chosen so that the fake LLM's lexicon (docs/conventions.md section 6) never
scores a conversation below neutral: every score delta is then >= 0, so a friendship's
stored score must equal the plain sum of its processed conversations' deltas (capped at
1000). That makes lost or duplicated score updates measurable from the database alone.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

# (English, Vietnamese) user lines; topic keywords from the fake LLM's table, positive words
# ("love", "great", "happy", "vui", "thích") and some questions.
USER_LINES: tuple[str, ...] = (
    "I love this new music album, it is great!",
    "What food did you try today?",
    "My family trip was happy and fun.",
    "Do you like movies about travel?",
    "Work was fine today.",
    "I played games with friends, it was great.",
    "Any tips for study before the exam?",
    "I went running for my health this morning.",
    "Sports on the weekend make me happy.",
    "Tôi rất thích nghe nhạc mỗi tối.",
    "Hôm nay tôi ăn món ăn ngon với gia đình, rất vui!",
    "Bạn có thích du lịch không?",
    "Tôi vui vì công việc hôm nay tốt.",
    "Bạn xem phim gì cuối tuần?",
    "Tôi thích chơi game với bạn bè.",
)
ASSISTANT_LINES: tuple[str, ...] = (
    "That sounds lovely, tell me more.",
    "Thật tuyệt, kể thêm cho mình nghe nhé.",
    "I am glad to hear that.",
    "Nghe hay quá!",
)


def conversation_body(
    rng: random.Random,
    conversation_id: str,
    user_id: str,
    agent_id: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A small conversation (2-8 messages) ending ``now``, as the API expects it."""
    now = now or datetime.now(UTC)
    count = rng.randint(1, 4)
    started = now - timedelta(minutes=2 * count)
    messages: list[dict[str, str]] = []
    for i in range(count):
        ts = started + timedelta(minutes=2 * i)
        messages.append({"role": "user", "content": rng.choice(USER_LINES), "ts": ts.isoformat()})
        messages.append(
            {
                "role": "assistant",
                "content": rng.choice(ASSISTANT_LINES),
                "ts": (ts + timedelta(seconds=30)).isoformat(),
            }
        )
    return {
        "conversation_id": conversation_id,
        "user_id": user_id,
        "agent_id": agent_id,
        "started_at": started.isoformat(),
        "ended_at": now.isoformat(),
        "messages": messages,
    }
