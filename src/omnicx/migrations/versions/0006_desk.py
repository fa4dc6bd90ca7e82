"""desk: teams, agents, conversations and messages

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "desk_teams",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("last_assigned_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_desk_teams_name")),
    )
    op.create_table(
        "desk_agents",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("skills", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("presence", sa.String(length=16), nullable=False),
        sa.Column("presence_since", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_desk_agents")),
    )
    op.create_table(
        "desk_team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("added_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["desk_teams.id"], name=op.f("fk_desk_team_members_team_id_desk_teams")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["desk_agents.user_id"],
            name=op.f("fk_desk_team_members_user_id_desk_agents"),
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_desk_team_members")),
    )
    op.create_index("ix_desk_team_members_user_id", "desk_team_members", ["user_id"], unique=False)
    op.create_table(
        "desk_routing_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("skills", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["desk_teams.id"], name=op.f("fk_desk_routing_rules_team_id_desk_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_routing_rules")),
    )
    op.create_table(
        "desk_conversations",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("thread", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("snoozed_until", WHEN, nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("required_skills", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("first_reply_at", WHEN, nullable=True),
        sa.Column("waiting_since", WHEN, nullable=True),
        sa.Column("last_message_at", WHEN, nullable=True),
        sa.Column("resolved_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["desk_teams.id"], name=op.f("fk_desk_conversations_team_id_desk_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_conversations")),
    )
    op.create_index(
        "ix_desk_conversations_thread",
        "desk_conversations",
        ["customer_id", "channel", "thread"],
        unique=False,
    )
    op.create_index(
        "ix_desk_conversations_queue",
        "desk_conversations",
        ["team_id", "assignee_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_desk_conversations_assignee",
        "desk_conversations",
        ["assignee_id", "status"],
        unique=False,
    )
    op.create_table(
        "desk_messages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachments", sa.Text(), nullable=False),
        sa.Column("event_seq", BIG_ID, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["desk_conversations.id"],
            name=op.f("fk_desk_messages_conversation_id_desk_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_messages")),
        sa.UniqueConstraint("channel", "message_id", name="uq_desk_messages_channel_message"),
        sa.UniqueConstraint("event_seq", name=op.f("uq_desk_messages_event_seq")),
    )
    op.create_index(
        "ix_desk_messages_conversation", "desk_messages", ["conversation_id", "id"], unique=False
    )
    op.create_table(
        "desk_conversation_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["desk_conversations.id"],
            name=op.f("fk_desk_conversation_history_conversation_id_desk_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_conversation_history")),
    )
    op.create_index(
        "ix_desk_history_conversation",
        "desk_conversation_history",
        ["conversation_id", "id"],
        unique=False,
    )
    op.create_table(
        "desk_report_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("wall_seconds", sa.Float(), nullable=True),
        sa.Column("business_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["desk_conversations.id"],
            name=op.f("fk_desk_report_events_conversation_id_desk_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_report_events")),
    )
    op.create_index(
        "ix_desk_report_events_kind_time",
        "desk_report_events",
        ["kind", "occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_desk_report_events_kind_time", table_name="desk_report_events")
    op.drop_table("desk_report_events")
    op.drop_index("ix_desk_history_conversation", table_name="desk_conversation_history")
    op.drop_table("desk_conversation_history")
    op.drop_index("ix_desk_messages_conversation", table_name="desk_messages")
    op.drop_table("desk_messages")
    op.drop_index("ix_desk_conversations_assignee", table_name="desk_conversations")
    op.drop_index("ix_desk_conversations_queue", table_name="desk_conversations")
    op.drop_index("ix_desk_conversations_thread", table_name="desk_conversations")
    op.drop_table("desk_conversations")
    op.drop_table("desk_routing_rules")
    op.drop_index("ix_desk_team_members_user_id", table_name="desk_team_members")
    op.drop_table("desk_team_members")
    op.drop_table("desk_agents")
    op.drop_table("desk_teams")
