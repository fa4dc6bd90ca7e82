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
# identity.rules.STRENGTH, as SQL (a migration does not import the application's rules).
STRENGTH_ORDER = (
    "CASE i.type WHEN 'user_id' THEN 0 WHEN 'wechat_unionid' THEN 1 WHEN 'email' THEN 2"
    " WHEN 'phone' THEN 3 WHEN 'wechat_openid' THEN 4 WHEN 'device_id' THEN 6"
    " WHEN 'anonymous_id' THEN 7 ELSE 5 END"
)


def upgrade() -> None:
    with op.batch_alter_table("processor_offsets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("replayed_through", BIG_ID, nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("fact_position", BIG_ID, nullable=False, server_default="0"))
    op.create_table(
        "facts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("after_seq", BIG_ID, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facts")),
        sa.UniqueConstraint("key", name=op.f("uq_facts_key")),
    )
    with op.batch_alter_table("facts", schema=None) as batch_op:
        batch_op.create_index("ix_facts_after_seq", ["after_seq"], unique=False)
    op.create_table(
        "processor_batches",
        sa.Column("processor", sa.String(length=64), nullable=False),
        sa.Column("end_seq", BIG_ID, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("processor", "end_seq", name=op.f("pk_processor_batches")),
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
    _stable_customer_ids()


def _stable_customer_ids() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anchor_hash", sa.LargeBinary(length=20), nullable=True))
    op.create_table(
        "identity_dormant_customers",
        sa.Column("customer_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("anchor_hash", sa.LargeBinary(length=20), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_identity_dormant_customers")),
    )
    with op.batch_alter_table("identity_dormant_customers", schema=None) as batch_op:
        batch_op.create_index("ix_identity_dormant_customers_anchor", ["anchor_hash"])
    with op.batch_alter_table("identity_link_blocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unmerge_id", BIG_ID, nullable=True))
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("customer_unmerges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_position", BIG_ID, nullable=True))
        batch_op.add_column(
            sa.Column("replay_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            batch_op.f("ix_customer_unmerges_log_position"), ["log_position"], unique=False
        )
    # Customers founded before 0003: their anchor is the strongest identifier among the
    # first they were seen with (what founded them, as far as the graph still says).
    op.execute(
        "UPDATE customers SET anchor_hash = (SELECT i.key_hash FROM identifiers i"
        " WHERE i.customer_id = customers.id ORDER BY i.source_event_seq,"
        f" {STRENGTH_ORDER}, i.key_hash LIMIT 1)"
    )


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
    # Columns are dropped in place (SQLite >= 3.35): recreating a table that other rows
    # reference would trip the foreign keys of a database that holds data.
    with op.batch_alter_table("customer_unmerges", recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_unmerges_log_position"))
        batch_op.drop_column("replay_pending")
        batch_op.drop_column("log_position")
    with op.batch_alter_table("identity_link_blocks", recreate="never") as batch_op:
        batch_op.drop_column("active")
        batch_op.drop_column("unmerge_id")
    with op.batch_alter_table("identity_dormant_customers", recreate="never") as batch_op:
        batch_op.drop_index("ix_identity_dormant_customers_anchor")
    op.drop_table("identity_dormant_customers")
    with op.batch_alter_table("customers", recreate="never") as batch_op:
        batch_op.drop_column("anchor_hash")
    with op.batch_alter_table("worker_presence", recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_presence_seen_at"))
    op.drop_table("worker_presence")
    op.drop_table("processor_batches")
    with op.batch_alter_table("facts", recreate="never") as batch_op:
        batch_op.drop_index("ix_facts_after_seq")
    op.drop_table("facts")
    with op.batch_alter_table("processor_offsets", recreate="never") as batch_op:
        batch_op.drop_column("fact_position")
        batch_op.drop_column("replayed_through")
