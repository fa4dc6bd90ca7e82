"""desk: tickets, their linked conversations, comments and history; replies' outbox link

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "desk_tickets",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["desk_teams.id"], name=op.f("fk_desk_tickets_team_id_desk_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_tickets")),
    )
    op.create_index("ix_desk_tickets_queue", "desk_tickets", ["team_id", "owner_id", "status"])
    op.create_index("ix_desk_tickets_customer", "desk_tickets", ["customer_id"])
    op.create_table(
        "desk_ticket_conversations",
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["desk_tickets.id"],
            name=op.f("fk_desk_ticket_conversations_ticket_id_desk_tickets"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["desk_conversations.id"],
            name=op.f("fk_desk_ticket_conversations_conversation_id_desk_conversations"),
        ),
        sa.PrimaryKeyConstraint(
            "ticket_id", "conversation_id", name=op.f("pk_desk_ticket_conversations")
        ),
    )
    op.create_index(
        "ix_desk_ticket_conversations_conversation",
        "desk_ticket_conversations",
        ["conversation_id"],
    )
    for table, extra in (
        (
            "desk_ticket_comments",
            [
                sa.Column("author_user_id", sa.Integer(), nullable=True),
                sa.Column("text", sa.Text(), nullable=False),
            ],
        ),
        (
            "desk_ticket_history",
            [
                sa.Column("actor", sa.String(length=200), nullable=False),
                sa.Column("action", sa.String(length=32), nullable=False),
                sa.Column("detail", sa.Text(), nullable=False),
            ],
        ),
    ):
        op.create_table(
            table,
            sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
            sa.Column("ticket_id", BIG_ID, nullable=False),
            *extra,
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["ticket_id"], ["desk_tickets.id"], name=op.f(f"fk_{table}_ticket_id_desk_tickets")
            ),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        )
    op.create_index("ix_desk_ticket_comments_ticket", "desk_ticket_comments", ["ticket_id", "id"])
    op.create_index("ix_desk_ticket_history_ticket", "desk_ticket_history", ["ticket_id", "id"])
    with op.batch_alter_table("desk_messages") as batch:
        batch.add_column(sa.Column("outbox_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("desk_messages") as batch:
        batch.drop_column("outbox_id")
    op.drop_table("desk_ticket_history")
    op.drop_table("desk_ticket_comments")
    op.drop_table("desk_ticket_conversations")
    op.drop_table("desk_tickets")
