"""channels: SMS channels: Twilio-shaped numbers, delivery status and opt-out keywords

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sms_messages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("outbox_id", BIG_ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("to_hash", sa.LargeBinary(length=20), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
        sa.UniqueConstraint("channel_id", "provider_id", name="uq_sms_messages_provider_id"),
    )
    op.create_index("ix_sms_messages_outbox", "sms_messages", ["outbox_id"], unique=True)
    op.create_table(
        "sms_sink",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("to_number", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("to_hash", sa.LargeBinary(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_sink")),
    )
    op.create_index("ix_sms_sink_channel", "sms_sink", ["channel_id", "id"])
    op.create_index(op.f("ix_sms_sink_to_hash"), "sms_sink", ["to_hash"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sms_sink_to_hash"), table_name="sms_sink")
    op.drop_index("ix_sms_sink_channel", table_name="sms_sink")
    op.drop_table("sms_sink")
    op.drop_index("ix_sms_messages_outbox", table_name="sms_messages")
    op.drop_table("sms_messages")
