"""channels: Email channels: mailboxes, message ids for threading, IMAP positions

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_messages",
        sa.Column("channel_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("message_key", sa.String(length=64), nullable=False),
        sa.Column("thread", sa.String(length=200), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "message_key", name=op.f("pk_email_messages")),
    )
    op.create_table(
        "email_threads",
        sa.Column("channel_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("thread", sa.String(length=200), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("address_hash", sa.LargeBinary(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "thread", name=op.f("pk_email_threads")),
    )
    op.create_index("ix_email_threads_address", "email_threads", ["address_hash"])
    op.create_table(
        "email_imap_positions",
        sa.Column("channel_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_email_imap_positions")),
    )


def downgrade() -> None:
    op.drop_table("email_imap_positions")
    op.drop_index("ix_email_threads_address", table_name="email_threads")
    op.drop_table("email_threads")
    op.drop_table("email_messages")
