"""desk: attachments stored encrypted, with size and type

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "desk_attachments",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", BIG_ID, nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("thread", sa.String(length=220), nullable=False),
        sa.Column("message_id", sa.String(length=220), nullable=True),
        sa.Column("uploaded_by", sa.String(length=16), nullable=False),
        sa.Column("uploader_user_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("declared_type", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_key", sa.Text(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["desk_conversations.id"],
            name=op.f("fk_desk_attachments_conversation_id_desk_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_attachments")),
    )
    op.create_index(
        "ix_desk_attachments_conversation", "desk_attachments", ["conversation_id", "id"]
    )
    op.create_index("ix_desk_attachments_message", "desk_attachments", ["channel", "message_id"])
    # The files a web chat transcript line carries (JSON, encrypted); empty for the rest.
    with op.batch_alter_table("webchat_messages") as batch:
        batch.add_column(sa.Column("attachments", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webchat_messages") as batch:
        batch.drop_column("attachments")
    op.drop_index("ix_desk_attachments_message", table_name="desk_attachments")
    op.drop_index("ix_desk_attachments_conversation", table_name="desk_attachments")
    op.drop_table("desk_attachments")
