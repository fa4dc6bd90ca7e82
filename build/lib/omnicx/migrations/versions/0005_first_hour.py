"""sources: allowed browser origins and write key rotation with a grace period

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_key_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("previous_key_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("key_rotated_at", sa.DateTime(timezone=True), nullable=True))
        # Existing sources are server sources: no browser origin until one is added.
        batch_op.add_column(
            sa.Column("allowed_origins", sa.Text(), nullable=False, server_default="[]")
        )
        batch_op.create_index("ix_sources_previous_key_hash", ["previous_key_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index("ix_sources_previous_key_hash")
        batch_op.drop_column("allowed_origins")
        batch_op.drop_column("key_rotated_at")
        batch_op.drop_column("previous_key_expires_at")
        batch_op.drop_column("previous_key_hash")
