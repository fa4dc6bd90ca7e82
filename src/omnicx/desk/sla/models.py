"""The SLA tables: business calendars, SLA policies and the clocks that run on them.

Teams, conversations and tickets belong to the desk core (migration 0006). The ids of
those rows are kept here as plain integers, without foreign keys, so that the SLA tables
do not depend on the order in which the two parts of the desk land; the desk core cancels
a clock when it deletes its target.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.database import Base, BigId

TARGET_KINDS = ("conversation", "ticket")
METRICS = ("first_response", "next_response", "resolution")
PRIORITIES = ("low", "normal", "high", "urgent")
# running → at_risk → breached; running | at_risk → met; any open clock → cancelled.
# A breached clock stays breached when it is met later (``met_at`` says when).
CLOCK_STATES = ("running", "met", "at_risk", "breached", "cancelled")
OPEN_STATES = ("running", "at_risk", "breached")


class SlaCalendar(Base):
    """A business-hours calendar (see ``calendar.BusinessCalendar``)."""

    __tablename__ = "desk_calendars"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    # JSON: {"mon": [["09:00", "12:00"], ["13:30", "18:00"]], …}
    hours: Mapped[str] = mapped_column(Text)
    # "CN": official holidays and make-up days from chinesecalendar; None: weekends only.
    region: Mapped[str | None] = mapped_column(String(8))
    # JSON lists of ISO dates, e.g. a company day off, or a year the package lacks.
    extra_holidays: Mapped[str] = mapped_column(Text, default="[]")
    extra_workdays: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaPolicy(Base):
    """Targets per team / ticket type / priority (each None = any), on a calendar."""

    __tablename__ = "desk_sla_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The desk core's team id (no foreign key: see the module docstring).
    team_id: Mapped[int | None] = mapped_column(BigId)
    ticket_type: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str | None] = mapped_column(String(16))
    # Business seconds; None: this policy does not measure the metric.
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    next_response_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    # The share of the target after which a clock is "at risk" (0.8: at 80%).
    at_risk_fraction: Mapped[float] = mapped_column(Float, default=0.8)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("desk_calendars.id"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaClock(Base):
    """One run of one metric for one conversation or ticket.

    A clock keeps its goal and the policy's calendar at its start, so that editing a
    policy changes the clocks started afterwards, not the promises already running.
    Pausing (a pending ticket's resolution clock) banks the business seconds spent so
    far in ``spent_seconds``; resuming starts a new running period at ``running_since``.
    """

    __tablename__ = "desk_sla_clocks"
    __table_args__ = (
        Index("ix_desk_sla_clocks_target", "target_kind", "target_id"),
        Index("ix_desk_sla_clocks_state", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    target_kind: Mapped[str] = mapped_column(String(16))
    # The desk core's conversation or ticket id (no foreign key: see the module docstring).
    target_id: Mapped[int] = mapped_column(BigId)
    metric: Mapped[str] = mapped_column(String(16))
    # "kind:id:metric" while the clock is open, None once met or cancelled: at most one
    # open clock per target and metric, on SQLite and PostgreSQL alike (NULLs never clash).
    open_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("desk_sla_policies.id"))
    calendar_id: Mapped[int] = mapped_column(ForeignKey("desk_calendars.id"))
    goal_seconds: Mapped[int] = mapped_column(Integer)
    at_risk_seconds: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    running_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    spent_seconds: Mapped[int] = mapped_column(Integer, default=0)
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # None while paused (no due time runs then).
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    at_risk_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    met_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
