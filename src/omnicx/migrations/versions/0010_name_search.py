"""customers: keyed-hash terms of names, to find customers by name; the list by last activity

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Existing names are indexed by ``omnicx customers reindex-names`` (the terms need the
blind-index key, which migrations do not hold) or by a replay of the identity group.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_name_terms",
        sa.Column("term_hash", sa.LargeBinary(length=20), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.PrimaryKeyConstraint("term_hash", "customer_id", name=op.f("pk_customer_name_terms")),
    )
    op.create_index(
        "ix_customer_name_terms_customer", "customer_name_terms", ["customer_id"], unique=False
    )
    # The customer list pages by last activity.
    op.create_index(
        "ix_customer_profiles_last_seen", "customer_profiles", ["last_seen_at", "customer_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_customer_profiles_last_seen", table_name="customer_profiles")
    op.drop_index("ix_customer_name_terms_customer", table_name="customer_name_terms")
    op.drop_table("customer_name_terms")
