"""desk SLA: business-hours calendars, SLA policies and SLA clocks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Team, conversation and ticket ids are plain integers here, without foreign keys to the
desk core's tables (0006), so that this revision does not depend on their shape.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "desk_calendars",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("hours", sa.Text(), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("extra_holidays", sa.Text(), nullable=False),
        sa.Column("extra_workdays", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_calendars")),
        sa.UniqueConstraint("name", name=op.f("uq_desk_calendars_name")),
    )
    op.create_table(
        "desk_sla_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("team_id", BIG_ID, nullable=True),
        sa.Column("ticket_type", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=True),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("next_response_seconds", sa.Integer(), nullable=True),
        sa.Column("resolution_seconds", sa.Integer(), nullable=True),
        sa.Column("at_risk_fraction", sa.Float(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["desk_calendars.id"],
            name=op.f("fk_desk_sla_policies_calendar_id_desk_calendars"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_sla_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_desk_sla_policies_name")),
    )
    op.create_table(
        "desk_sla_clocks",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", BIG_ID, nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("open_key", sa.String(length=80), nullable=True),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("goal_seconds", sa.Integer(), nullable=False),
        sa.Column("at_risk_seconds", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("running_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spent_seconds", sa.Integer(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at_risk_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["desk_calendars.id"],
            name=op.f("fk_desk_sla_clocks_calendar_id_desk_calendars"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["desk_sla_policies.id"],
            name=op.f("fk_desk_sla_clocks_policy_id_desk_sla_policies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_sla_clocks")),
        sa.UniqueConstraint("open_key", name=op.f("uq_desk_sla_clocks_open_key")),
    )
    with op.batch_alter_table("desk_sla_clocks", schema=None) as batch_op:
        # The inbox's "SLA state" filter: the clocks of a page of targets.
        batch_op.create_index(
            "ix_desk_sla_clocks_target", ["target_kind", "target_id"], unique=False
        )
        batch_op.create_index("ix_desk_sla_clocks_state", ["state", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("desk_sla_clocks", schema=None) as batch_op:
        batch_op.drop_index("ix_desk_sla_clocks_state")
        batch_op.drop_index("ix_desk_sla_clocks_target")
    op.drop_table("desk_sla_clocks")
    op.drop_table("desk_sla_policies")
    op.drop_table("desk_calendars")
