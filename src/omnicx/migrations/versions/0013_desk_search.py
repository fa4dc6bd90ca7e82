"""desk: message-text search terms; conversations indexed by last change

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

Messages stored before this revision are indexed by ``omnicx desk reindex-messages``
(the terms need the blind-index key, which migrations do not hold).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "desk_message_terms",
        sa.Column("term_hash", sa.LargeBinary(length=20), nullable=False),
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("message_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["desk_conversations.id"],
            name=op.f("fk_desk_message_terms_conversation_id_desk_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["desk_messages.id"],
            name=op.f("fk_desk_message_terms_message_id_desk_messages"),
        ),
        sa.PrimaryKeyConstraint(
            "term_hash", "conversation_id", "message_id", name=op.f("pk_desk_message_terms")
        ),
    )
    # Erasure and a merge's fold find a conversation's terms; the reindex a message's.
    op.create_index(
        "ix_desk_message_terms_conversation",
        "desk_message_terms",
        ["conversation_id", "message_id"],
    )
    # The inbox lists by last change, newest first, and pages on (updated_at, id).
    op.create_index("ix_desk_conversations_updated", "desk_conversations", ["updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_desk_conversations_updated", table_name="desk_conversations")
    op.drop_index("ix_desk_message_terms_conversation", table_name="desk_message_terms")
    op.drop_table("desk_message_terms")
