"""Hypothesis strategies: conversations, prior friendship states, analyses, decay inputs.

Scores, gaps and counts are drawn from mixtures that favour the boundaries of
docs/scoring.md (level edges, clamps, the 36 h streak and 72 h decay windows, the caps),
so a shifted constant is found in a few hundred examples, not by luck.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from contracts.adapters import DecayCase, Prior, PriorTopic, ScoringCase

EMOTIONS = ("very_negative", "negative", "neutral", "positive", "very_positive")
TOPICS = (
    "music",
    "food",
    "travel",
    "work",
    "family",
    "sports",
    "movies",
    "games",
    "study",
    "health",
)
LEVEL_EDGES = (0, 1, 99, 100, 101, 299, 300, 599, 600, 849, 850, 979, 980, 999, 1000)
WORDS = (
    "I love music",
    "Tôi thích âm nhạc",
    "món ăn ngon quá",
    "let's travel?",
    "công việc mệt",
    "gia đình tôi",
    "great game!",
    "học bài?",
    "buồn quá",
    "ok",
)
BASE = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)

scores = st.one_of(st.sampled_from(LEVEL_EDGES), st.integers(0, 1000))
timestamps = st.integers(-30 * 86400, 30 * 86400).map(lambda s: BASE + timedelta(seconds=s))
# gap before ended_at: exactly 0, exactly 36 h, a second either side, anything
streak_gaps = st.one_of(
    st.sampled_from([0, 1, 36 * 3600 - 1, 36 * 3600, 36 * 3600 + 1, -1, -3600]),
    st.integers(-10 * 86400, 10 * 86400),
).map(lambda s: timedelta(seconds=s))


@st.composite
def messages(draw: st.DrawFn) -> list[dict[str, object]]:
    """A conversation: 1..500 messages, English and Vietnamese, some questions."""
    n = draw(st.one_of(st.integers(1, 30), st.integers(1, 500)))
    start = draw(timestamps)
    roles = draw(st.lists(st.sampled_from(["user", "assistant"]), min_size=n, max_size=n))
    out = []
    for i, role in enumerate(roles):
        text = draw(st.one_of(st.sampled_from(WORDS), st.text(max_size=40)))
        out.append({"role": role, "content": text, "ts": start + timedelta(seconds=30 * i)})
    return out


@st.composite
def priors(draw: st.DrawFn, ended_at: datetime) -> Prior | None:
    if draw(st.integers(0, 5)) == 0:
        return None  # a new friendship
    last = None if draw(st.integers(0, 6)) == 0 else ended_at - draw(streak_gaps)
    known = draw(st.lists(st.sampled_from(TOPICS), unique=True, max_size=6))
    metrics = {
        t: PriorTopic(
            mentions=draw(st.integers(1, 50)),
            positive=draw(st.integers(0, 20)),
            negative=draw(st.integers(0, 20)),
            last_seen=draw(timestamps),
        )
        for t in known
    }
    return Prior(score=draw(scores), last_interaction_at=last, topic_metrics=metrics)


@st.composite
def scoring_cases(draw: st.DrawFn) -> ScoringCase:
    ended_at = draw(timestamps)
    if draw(st.booleans()):
        user_count = sum(1 for m in draw(messages()) if m["role"] == "user")
    else:  # the engagement cap's edges: U // 3 = 8 at U = 24, 25, 26
        user_count = draw(st.sampled_from([0, 1, 2, 3, 23, 24, 25, 26, 27, 500]))
    # the analysis is normalised as both services store it: unique, sorted, at most 5
    topics = tuple(sorted(draw(st.lists(st.sampled_from(TOPICS), unique=True, max_size=5))))
    return ScoringCase(
        prior=draw(priors(ended_at)),
        emotion=draw(st.sampled_from(EMOTIONS)),
        user_questions=draw(st.one_of(st.sampled_from([0, 4, 5, 6, 20]), st.integers(0, 20))),
        topics=topics,
        user_message_count=user_count,
        ended_at=ended_at,
    )


@st.composite
def decay_cases(draw: st.DrawFn) -> DecayCase:
    now = draw(timestamps)
    gap = draw(
        st.one_of(
            st.sampled_from([72 * 3600 - 1, 72 * 3600, 72 * 3600 + 1, 0]),
            st.integers(-86400, 20 * 86400),
        )
    )
    last = None if draw(st.integers(0, 8)) == 0 else now - timedelta(seconds=gap)
    decay_date = draw(st.sampled_from([None, "today", "yesterday"]))
    last_decay = {None: None, "today": now.date(), "yesterday": (now - timedelta(days=1)).date()}[
        decay_date
    ]
    return DecayCase(
        score=draw(st.one_of(st.sampled_from(LEVEL_EDGES), st.integers(0, 1000))),
        last_interaction_at=last,
        last_decay_date=last_decay,
        now=now,
    )
