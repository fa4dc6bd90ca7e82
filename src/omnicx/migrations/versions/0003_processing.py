"""processor groups, replay epochs, stable customer ids, domain facts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The processors of the two groups a 0002 database knows.
PROCESSORS = ("customers", "consent")


def upgrade() -> None:
    with op.batch_alter_table("processor_offsets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("replayed_through", BIG_ID, nullable=False, server_default="0")
        )
    op.create_table(
        "worker_presence",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("groups", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_presence")),
    )
    with op.batch_alter_table("worker_presence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worker_presence_seen_at"), ["seen_at"], unique=False)
    _adopt_jetstream_progress()


def _adopt_jetstream_progress() -> None:
    """Until 0003, JetStream workers processed each event in the transaction that
    recorded it and kept no offsets. Groups now follow the table by offset in both modes:
    a database that holds processed events but no offsets was run that way, and every
    event in it is processed already."""
    bind = op.get_bind()
    known = {row[0] for row in bind.execute(sa.text("SELECT processor FROM processor_offsets"))}
    head = bind.execute(sa.text("SELECT max(seq) FROM events")).scalar()
    processed = bind.execute(sa.text("SELECT 1 FROM customer_timeline LIMIT 1")).first()
    if known or head is None or processed is None:
        return
    for name in PROCESSORS:
        bind.execute(
            sa.text(
                "INSERT INTO processor_offsets (processor, position, replayed_through)"
                " VALUES (:name, :head, 0)"
            ),
            {"name": name, "head": head},
        )


def downgrade() -> None:
    with op.batch_alter_table("worker_presence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_presence_seen_at"))
    op.drop_table("worker_presence")
    with op.batch_alter_table("processor_offsets", schema=None) as batch_op:
        batch_op.drop_column("replayed_through")
