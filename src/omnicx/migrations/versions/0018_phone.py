"""Phone channels: CTI calls and their states

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phone_calls",
        sa.Column("channel_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("channel_id", "call_id", name=op.f("pk_phone_calls")),
    )
    op.create_table(
        "phone_webhook_signatures",
        sa.Column("channel_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "digest", name=op.f("pk_phone_webhook_signatures")),
    )
    op.create_index("ix_phone_webhook_signatures_seen", "phone_webhook_signatures", ["seen_at"])
    # The desk's screen pops for phone calls (desk.calls).
    op.create_table(
        "desk_call_pops",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("event_message_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_call_pops")),
        sa.UniqueConstraint(
            "event_message_id", "user_id", name=op.f("uq_desk_call_pops_event_message_id")
        ),
    )
    op.create_index(op.f("ix_desk_call_pops_user_id"), "desk_call_pops", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_desk_call_pops_user_id"), table_name="desk_call_pops")
    op.drop_table("desk_call_pops")
    op.drop_index("ix_phone_webhook_signatures_seen", table_name="phone_webhook_signatures")
    op.drop_table("phone_webhook_signatures")
    op.drop_table("phone_calls")
