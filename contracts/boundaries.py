"""Every boundary of docs/scoring.md as an explicit case (@example and the teeth test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.adapters import DecayCase, Prior, PriorTopic, ScoringCase

T = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _case(
    score: int | None = 0,
    emotion: str = "neutral",
    questions: int = 0,
    topics: tuple[str, ...] = (),
    users: int = 0,
    gap: timedelta | None = None,
    known: tuple[str, ...] = (),
) -> ScoringCase:
    prior = (
        None
        if score is None
        else Prior(
            score=score,
            last_interaction_at=None if gap is None else T - gap,
            topic_metrics={t: PriorTopic(2, 1, 0, T - 100 * H) for t in known},
        )
    )
    return ScoringCase(prior, emotion, questions, topics, users, T)


SCORING_BOUNDARIES: list[ScoringCase] = [
    # level edges: land exactly on / one below each lower bound
    _case(score=94, emotion="positive"),  # 99
    _case(score=95, emotion="positive"),  # 100
    _case(score=294, emotion="positive"),  # 299
    _case(score=295, emotion="positive"),  # 300
    _case(score=594, emotion="positive"),  # 599
    _case(score=595, emotion="positive"),  # 600
    _case(score=844, emotion="positive"),  # 849
    _case(score=845, emotion="positive"),  # 850
    # delta clamps: +30 (sums 35 / 29). The -20 clamp is unreachable: every rule but
    # emotion adds >= 0, so the lowest sum is -10 (very_negative alone)
    _case(score=500, emotion="very_negative"),
    _case(
        score=500,
        emotion="very_positive",
        questions=5,
        users=24,
        topics=("food", "music", "travel"),
        gap=H,
    ),
    _case(
        score=500, emotion="very_positive", questions=5, users=12, topics=("food", "music"), gap=H
    ),
    # score clamps 0 / 1000
    _case(score=3, emotion="very_negative"),
    _case(score=10, emotion="very_negative"),
    _case(score=990, emotion="very_positive"),
    _case(score=1000, emotion="positive"),
    _case(score=None, emotion="very_negative"),  # new friendship, negative delta
    # streak: exactly 36 h, just over, 0, negative gap
    _case(score=200, gap=36 * H),
    _case(score=200, gap=36 * H + timedelta(seconds=1)),
    _case(score=200, gap=timedelta(0)),
    _case(score=200, gap=-H),
    # engagement cap: U // 3 reaches 8 at U = 24, a higher cap would show at 27, 30
    *[_case(score=200, users=u) for u in (23, 24, 25, 26, 27, 30)],
    # questions cap 5 / 6
    _case(score=200, questions=5),
    _case(score=200, questions=6),
    # topic cap: 3 new topics (9 points), 4 new, known ones give nothing
    _case(score=200, topics=("food", "music", "travel")),
    _case(score=200, topics=("food", "games", "music", "travel")),
    _case(score=200, topics=("food", "music"), known=("food",)),
    # sentiment counts per topic
    *[
        _case(score=200, emotion=e, topics=("food",), known=("food",))
        for e in ("very_negative", "negative", "neutral", "positive", "very_positive")
    ],
]


def _decay(score: int, gap: timedelta | None, decayed: str | None = None) -> DecayCase:
    now = datetime(2025, 1, 13, 3, 0, tzinfo=UTC)
    last_decay = {None: None, "today": now.date(), "yesterday": (now - 24 * H).date()}[decayed]
    return DecayCase(score, None if gap is None else now - gap, last_decay, now)


DECAY_BOUNDARIES: list[DecayCase] = [
    *[_decay(s, 73 * H) for s in (0, 1, 99, 100, 101, 199, 200, 300, 600, 850, 1000)],
    _decay(500, 72 * H),  # exactly 72 h: due
    _decay(500, 72 * H - timedelta(seconds=1)),  # not due
    _decay(500, 100 * H, "today"),  # already decayed today
    _decay(500, 100 * H, "yesterday"),
    _decay(500, None),  # never interacted
]
