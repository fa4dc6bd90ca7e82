"""The SLA service: what the rest of the desk (and runtime, the API, the CLI) calls.

Services take a session and never commit: the caller's transaction carries a clock's
change and its rescheduled jobs together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from omnicx.desk.sla.calendar import BusinessCalendar
from omnicx.desk.sla.calendars import (
    CalendarDefinition,
    business_calendar,
    calendar_named,
    coverage_warning,
    create_calendar,
    delete_calendar,
    get_calendar,
    list_calendars,
    update_calendar,
)
from omnicx.desk.sla.clocks import (
    AT_RISK_FACT,
    AT_RISK_JOB,
    BREACH_JOB,
    BREACHED_FACT,
    ClockState,
    cancel_clocks,
    clock_states,
    job_key,
    meet_clock,
    open_clocks,
    pause_clock,
    register_jobs,
    resume_clock,
    start_clock,
    targets_in_state,
)
from omnicx.desk.sla.policies import (
    PolicyDefinition,
    choose_policy,
    create_policy,
    delete_policy,
    get_policy,
    list_policies,
    update_policy,
)

__all__ = [
    "AT_RISK_FACT",
    "AT_RISK_JOB",
    "BREACHED_FACT",
    "BREACH_JOB",
    "CalendarDefinition",
    "ClockState",
    "Elapsed",
    "PolicyDefinition",
    "business_calendar",
    "business_seconds",
    "calendar_for",
    "calendar_named",
    "cancel_clocks",
    "choose_policy",
    "clock_states",
    "coverage_warning",
    "create_calendar",
    "create_policy",
    "delete_calendar",
    "delete_policy",
    "get_calendar",
    "get_policy",
    "job_key",
    "list_calendars",
    "list_policies",
    "meet_clock",
    "open_clocks",
    "pause_clock",
    "register_jobs",
    "resume_clock",
    "start_clock",
    "targets_in_state",
    "update_calendar",
    "update_policy",
]


@dataclass(frozen=True)
class Elapsed:
    """How long something took, on the wall clock and in working time (whole seconds)."""

    wall_seconds: int
    business_seconds: int


def business_seconds(calendar: BusinessCalendar, a: datetime, b: datetime) -> Elapsed:
    """Wall-clock and business seconds from ``a`` to ``b`` (reporting: time to first
    response, to resolution …), on the calendar of the policy that measured it."""
    wall = int((b - a).total_seconds())
    return Elapsed(wall_seconds=wall, business_seconds=calendar.business_seconds_between(a, b))


def calendar_for(session: Session, calendar_id: int) -> BusinessCalendar:
    """The working-time rules of a stored calendar. Raises NotFound."""
    return business_calendar(get_calendar(session, calendar_id))
