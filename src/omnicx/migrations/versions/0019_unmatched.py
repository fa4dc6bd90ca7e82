"""Unmatched senders and unknown identifiers: review queues and alerts

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "review_unmatched",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("customer_id", BIG, nullable=False),
        sa.Column("conversation_id", BIG, nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("first_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("target_customer_id", BIG, nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_unmatched")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_review_unmatched_customer_id")),
    )
    op.create_index("ix_review_unmatched_status", "review_unmatched", ["status", "id"])
    op.create_table(
        "review_backfill",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=20), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.String(length=100), nullable=False),
        sa.Column("customer_id", BIG, nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("last_seq", BIG, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_backfill")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_review_backfill_key_hash")),
    )
    op.create_index("ix_review_backfill_status", "review_backfill", ["status", "id"])
    op.create_table(
        "review_crm_identifiers",
        sa.Column("key_hash", sa.LargeBinary(length=20), nullable=False),
        sa.Column("first_seq", BIG, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_review_crm_identifiers")),
    )


def downgrade() -> None:
    op.drop_table("review_crm_identifiers")
    op.drop_index("ix_review_backfill_status", table_name="review_backfill")
    op.drop_table("review_backfill")
    op.drop_index("ix_review_unmatched_status", table_name="review_unmatched")
    op.drop_table("review_unmatched")
