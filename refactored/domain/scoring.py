"""The scoring rules of docs/scoring.md: integers only, exact, no I/O.

These three functions are the entry points the contract tests compare with
legacy: :func:`score_conversation`, :func:`decay_friendship` and
:func:`level_for_score`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from refactored.domain.model import (
    Analysis,
    DecayOutcome,
    FriendshipState,
    Level,
    ScoreOutcome,
    TopicMetric,
)

MIN_SCORE, MAX_SCORE = 0, 1000
MIN_DELTA, MAX_DELTA = -20, 30
STREAK_WINDOW = timedelta(hours=36)
INACTIVITY_BEFORE_DECAY = timedelta(hours=72)

EMOTION_POINTS = {
    "very_negative": -10,
    "negative": -5,
    "neutral": 0,
    "positive": 5,
    "very_positive": 10,
}
POSITIVE_EMOTIONS = frozenset({"positive", "very_positive"})
NEGATIVE_EMOTIONS = frozenset({"negative", "very_negative"})

# Lower bounds of each level, highest first.
LEVEL_THRESHOLDS: tuple[tuple[int, Level], ...] = (
    (850, Level.BEST_FRIEND),
    (600, Level.CLOSE_FRIEND),
    (300, Level.FRIEND),
    (100, Level.ACQUAINTANCE),
    (0, Level.STRANGER),
)


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def level_for_score(score: int) -> str:
    """The level name of a score in [0, 1000]."""
    for lower_bound, level in LEVEL_THRESHOLDS:
        if score >= lower_bound:
            return level.value
    return Level.STRANGER.value


def score_delta(
    prior: FriendshipState, analysis: Analysis, user_message_count: int, ended_at: datetime
) -> int:
    """The clamped sum of emotion, question, engagement, topic and streak points."""
    emotion_points = EMOTION_POINTS[analysis.emotion]
    question_points = 2 * min(analysis.user_questions, 5)
    engagement_points = min(user_message_count // 3, 8)
    new_topics = [t for t in analysis.topics if t not in prior.topic_metrics]
    topic_points = min(3 * len(new_topics), 9)
    streak_points = 0
    if prior.last_interaction_at is not None:
        gap = ended_at - prior.last_interaction_at
        if timedelta(0) < gap <= STREAK_WINDOW:
            streak_points = 5
    total = emotion_points + question_points + engagement_points + topic_points + streak_points
    return clamp(total, MIN_DELTA, MAX_DELTA)


def updated_topic_metrics(
    prior: dict[str, TopicMetric], analysis: Analysis, ended_at: datetime
) -> dict[str, TopicMetric]:
    """Per topic of the conversation: one more mention, sentiment counted, last seen now."""
    metrics = dict(prior)
    positive = int(analysis.emotion in POSITIVE_EMOTIONS)
    negative = int(analysis.emotion in NEGATIVE_EMOTIONS)
    for topic in analysis.topics:
        old = metrics.get(topic)
        metrics[topic] = TopicMetric(
            topic=topic,
            mentions=(old.mentions if old else 0) + 1,
            positive=(old.positive if old else 0) + positive,
            negative=(old.negative if old else 0) + negative,
            last_seen=ended_at,
        )
    return metrics


def score_conversation(
    prior: FriendshipState, analysis: Analysis, user_message_count: int, ended_at: datetime
) -> ScoreOutcome:
    """Score one conversation against the stored status (docs/scoring.md)."""
    delta = score_delta(prior, analysis, user_message_count, ended_at)
    score = clamp(prior.score + delta, MIN_SCORE, MAX_SCORE)
    last = prior.last_interaction_at
    return ScoreOutcome(
        score_delta=delta,
        score=score,
        level=level_for_score(score),
        topic_metrics=updated_topic_metrics(prior.topic_metrics, analysis, ended_at),
        last_interaction_at=ended_at if last is None else max(last, ended_at),
    )


def is_due_for_decay(
    last_interaction_at: datetime | None, last_decay_date: date | None, now: datetime
) -> bool:
    """Inactive for 72 h and not yet decayed on ``now``'s (UTC) date."""
    if last_interaction_at is None:
        return False
    return last_interaction_at <= now - INACTIVITY_BEFORE_DECAY and last_decay_date != now.date()


def decay_friendship(score: int, now: datetime) -> DecayOutcome:
    """One night's decay: lose 1 % (at least 1 point) while above zero; ``now`` must be UTC."""
    new_score = score - max(1, score // 100) if score > 0 else score
    return DecayOutcome(score=new_score, level=level_for_score(new_score), decay_date=now.date())
