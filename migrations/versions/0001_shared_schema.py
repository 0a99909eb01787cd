"""Shared schema: friendships, topic metrics, processed conversations, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "friendships",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("agent_id", sa.String(128), primary_key=True),
        sa.Column("score", sa.Integer, nullable=False, server_default="0"),
        sa.Column("level", sa.String(16), nullable=False, server_default="stranger"),
        sa.Column("last_interaction_at", TZ, nullable=True),
        sa.Column("last_decay_date", sa.Date, nullable=True),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("summary_updated_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("score BETWEEN 0 AND 1000", name="ck_friendships_score_range"),
    )
    op.create_index("ix_friendships_last_interaction_at", "friendships", ["last_interaction_at"])

    op.create_table(
        "topic_metrics",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("agent_id", sa.String(128), primary_key=True),
        sa.Column("topic", sa.String(32), primary_key=True),
        sa.Column("mentions", sa.Integer, nullable=False, server_default="0"),
        sa.Column("positive", sa.Integer, nullable=False, server_default="0"),
        sa.Column("negative", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_seen", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id", "agent_id"],
            ["friendships.user_id", "friendships.agent_id"],
            ondelete="CASCADE",
            name="fk_topic_metrics_friendship",
        ),
    )

    op.create_table(
        "processed_conversations",
        sa.Column("conversation_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=False),
        sa.Column("processed_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("score_delta", sa.Integer, nullable=False),
        sa.Column("analysis", postgresql.JSONB, nullable=False),
        sa.Column("degraded", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("response", postgresql.JSONB, nullable=False),
        # Set by the refactored service when a fallback was used, so the nightly
        # job can re-score the conversation once the LLM is healthy again.
        sa.Column("rescore_status", sa.String(16), nullable=True),
        sa.Column("rescore_input", postgresql.JSONB, nullable=True),
        sa.Column("score_correction", sa.Integer, nullable=True),
        sa.Column("rescored_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id", "agent_id"],
            ["friendships.user_id", "friendships.agent_id"],
            ondelete="CASCADE",
            name="fk_processed_conversations_friendship",
        ),
        sa.CheckConstraint(
            "rescore_status IS NULL OR rescore_status IN ('pending', 'done')",
            name="ck_processed_conversations_rescore_status",
        ),
    )
    op.create_index(
        "ix_processed_conversations_friendship",
        "processed_conversations",
        ["user_id", "agent_id"],
    )
    op.create_index(
        "ix_processed_conversations_rescore_pending",
        "processed_conversations",
        ["processed_at"],
        postgresql_where=sa.text("rescore_status = 'pending'"),
    )

    op.create_table(
        "outbox_events",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("routing_key", sa.String(128), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", TZ, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_outbox_events_unpublished",
        "outbox_events",
        ["created_at"],
        postgresql_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("outbox_events")
    op.drop_table("processed_conversations")
    op.drop_table("topic_metrics")
    op.drop_table("friendships")
