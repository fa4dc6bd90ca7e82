"""channels: WeChat Official Account channels, callback de-duplication and access tokens

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wechat_callback_nonces",
        sa.Column("channel_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("timestamp", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("message_key", sa.String(length=200), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "channel_id", "timestamp", "nonce", name=op.f("pk_wechat_callback_nonces")
        ),
    )
    op.create_index("ix_wechat_callback_nonces_seen", "wechat_callback_nonces", ["seen_at"])
    op.create_table(
        "wechat_contacts",
        sa.Column("channel_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("openid_hash", sa.LargeBinary(length=20), nullable=False),
        sa.Column("last_interaction_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "openid_hash", name=op.f("pk_wechat_contacts")),
    )
    op.create_table(
        "wechat_access_tokens",
        sa.Column("channel_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshing_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_wechat_access_tokens")),
    )


def downgrade() -> None:
    op.drop_table("wechat_access_tokens")
    op.drop_table("wechat_contacts")
    op.drop_index("ix_wechat_callback_nonces_seen", table_name="wechat_callback_nonces")
    op.drop_table("wechat_callback_nonces")
