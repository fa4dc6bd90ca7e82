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


def downgrade() -> None:
    op.drop_index("ix_phone_webhook_signatures_seen", table_name="phone_webhook_signatures")
    op.drop_table("phone_webhook_signatures")
    op.drop_table("phone_calls")
