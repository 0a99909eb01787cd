"""Idempotency per owner: processed_conversations keyed on (conversation_id, user_id, agent_id).

A conversation id was a global key: a second user sending an id another user had used got
the first user's stored answer and was never scored (issue 11). The primary key becomes
the owner's key (docs/conventions.md §4). Its name stays ``processed_conversations_pkey``
(refactored translates a violation of it into ``DuplicateConversation``) and ``conversation_id``
leads it, so legacy's lookups by ``conversation_id`` alone still use the index.

Upgrade keeps every row (the old key was unique, so the wider one is too). Downgrade
refuses, changing nothing, while some conversation id is stored for more than one owner:
the old key cannot hold them, and dropping a row would leave its owner's score counting a
conversation that no longer exists. The message names the ids; decide which rows go, then
downgrade again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "processed_conversations"
PKEY = "processed_conversations_pkey"
SHARED_IDS = sa.text(
    "SELECT conversation_id, count(*) AS owners FROM processed_conversations "
    "GROUP BY conversation_id HAVING count(*) > 1 ORDER BY conversation_id"
)


class SharedConversationIds(RuntimeError):
    """Downgrade refused: some conversation ids belong to more than one owner."""


def upgrade() -> None:
    op.drop_constraint(PKEY, TABLE, type_="primary")
    op.create_primary_key(PKEY, TABLE, ["conversation_id", "user_id", "agent_id"])


def downgrade() -> None:
    shared = op.get_bind().execute(SHARED_IDS).all()
    if shared:
        examples = ", ".join(f"{cid!r} ({owners} owners)" for cid, owners in shared[:5])
        raise SharedConversationIds(
            f"cannot downgrade 0002 -> 0001: {len(shared)} conversation id(s) are stored for "
            f"more than one (user_id, agent_id), e.g. {examples}; the old primary key "
            "(conversation_id alone) cannot hold them. Nothing was changed. List them with "
            "`SELECT conversation_id, user_id, agent_id, processed_at FROM "
            "processed_conversations WHERE conversation_id IN (SELECT conversation_id FROM "
            "processed_conversations GROUP BY conversation_id HAVING count(*) > 1)`, "
            "delete the rows you decide to drop (their owners' scores keep those "
            "conversations' deltas), then downgrade again."
        )
    op.drop_constraint(PKEY, TABLE, type_="primary")
    op.create_primary_key(PKEY, TABLE, ["conversation_id"])
