"""SQLAlchemy Core tables of the shared schema (migrations/versions/, head 0002)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()
TZ = sa.DateTime(timezone=True)

friendships = sa.Table(
    "friendships",
    metadata,
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("agent_id", sa.String(128), primary_key=True),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("last_interaction_at", TZ),
    sa.Column("last_decay_date", sa.Date),
    sa.Column("summary", sa.Text),
    sa.Column("summary_updated_at", TZ),
    sa.Column("created_at", TZ),
    sa.Column("updated_at", TZ),
)

topic_metrics = sa.Table(
    "topic_metrics",
    metadata,
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("agent_id", sa.String(128), primary_key=True),
    sa.Column("topic", sa.String(32), primary_key=True),
    sa.Column("mentions", sa.Integer, nullable=False),
    sa.Column("positive", sa.Integer, nullable=False),
    sa.Column("negative", sa.Integer, nullable=False),
    sa.Column("last_seen", TZ, nullable=False),
)

processed_conversations = sa.Table(
    "processed_conversations",
    metadata,
    # idempotency per owner (migration 0002): the key is (conversation_id, user_id, agent_id)
    sa.Column("conversation_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("agent_id", sa.String(128), primary_key=True),
    sa.Column("started_at", TZ, nullable=False),
    sa.Column("ended_at", TZ, nullable=False),
    sa.Column("processed_at", TZ),
    sa.Column("score_delta", sa.Integer, nullable=False),
    sa.Column("analysis", postgresql.JSONB, nullable=False),
    sa.Column("degraded", postgresql.JSONB, nullable=False),
    sa.Column("response", postgresql.JSONB, nullable=False),
    sa.Column("rescore_status", sa.String(16)),
    sa.Column("rescore_input", postgresql.JSONB),
    sa.Column("score_correction", sa.Integer),
    sa.Column("rescored_at", TZ),
)

outbox_events = sa.Table(
    "outbox_events",
    metadata,
    sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("routing_key", sa.String(128), nullable=False),
    sa.Column("payload", postgresql.JSONB, nullable=False),
    sa.Column("created_at", TZ),
    sa.Column("published_at", TZ),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
)
