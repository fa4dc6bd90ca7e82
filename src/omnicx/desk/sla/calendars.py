"""Stored business calendars: create, change, delete, and the working-time rules of one.

The rows keep the JSON a person wrote; ``business_calendar`` turns a row into the
arithmetic (``calendar.BusinessCalendar``), cached per row version so that a clock
firing or an inbox page does not rebuild the day cache each time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from threading import Lock
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from omnicx.core.database import forget_memo
from omnicx.core.errors import Conflict, InvalidInput, NotFound, check_text
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import as_utc, utcnow
from omnicx.desk.sla.calendar import (
    DEFAULT_TIMEZONE,
    BusinessCalendar,
    CalendarError,
    format_hours,
)
from omnicx.desk.sla.models import SlaCalendar, SlaClock, SlaPolicy

NAME_MAX = 100

# Monday to Friday, 09:00–12:00 and 13:30–18:00: the usual office day in China.
OFFICE_HOURS: dict[str, list[list[str]]] = {
    day: [["09:00", "12:00"], ["13:30", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}

# The transaction's memo of the policy (and its calendar's rules) that applies to a team,
# ticket type and priority (``desk.sla.clocks``); a change to either forgets it.
CHOSEN = "desk.sla.chosen_policies"


@dataclass(frozen=True)
class CalendarDefinition:
    """What a person defines; ``None`` in an update keeps the stored value."""

    name: str
    hours: dict[str, list[list[str]]]
    timezone: str = DEFAULT_TIMEZONE
    region: str | None = "CN"
    extra_holidays: Sequence[str] = ()
    extra_workdays: Sequence[str] = ()


def _checked(definition: CalendarDefinition) -> BusinessCalendar:
    name = definition.name.strip()
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(
            msg("a calendar name is 1 to {maximum} characters", maximum=NAME_MAX), field="name"
        )
    check_text(name, "name")
    try:
        return BusinessCalendar.build(
            hours=definition.hours,
            timezone=definition.timezone,
            region=definition.region,
            extra_holidays=definition.extra_holidays,
            extra_workdays=definition.extra_workdays,
        )
    except CalendarError as exc:
        raise InvalidInput(exc.text, field=exc.field) from exc


def _store(row: SlaCalendar, definition: CalendarDefinition, built: BusinessCalendar) -> None:
    row.name = definition.name.strip()
    row.timezone = definition.timezone
    row.hours = dumps(format_hours(built.week))
    row.region = definition.region
    row.extra_holidays = dumps(sorted(d.isoformat() for d in built.extra_holidays))
    row.extra_workdays = dumps(sorted(d.isoformat() for d in built.extra_workdays))
    row.updated_at = utcnow()


def _name_taken(session: Session, name: str, other_than: int | None = None) -> bool:
    query = select(SlaCalendar.id).where(SlaCalendar.name == name.strip())
    if other_than is not None:
        query = query.where(SlaCalendar.id != other_than)
    return session.scalar(query) is not None


def create_calendar(session: Session, definition: CalendarDefinition) -> SlaCalendar:
    """Store a new calendar. Raises InvalidInput (bad hours, zone, dates), Conflict (name)."""
    built = _checked(definition)
    if _name_taken(session, definition.name):
        raise Conflict(
            msg("a calendar named {name!r} exists", name=definition.name.strip()), field="name"
        )
    row = SlaCalendar(created_at=utcnow())
    _store(row, definition, built)
    session.add(row)
    session.flush()
    return row


def update_calendar(session: Session, calendar_id: int, changes: dict[str, Any]) -> SlaCalendar:
    """Change some of a calendar's fields; clocks already running keep their due times
    (they were promised), clocks started afterwards use the new rules."""
    row = get_calendar(session, calendar_id)
    merged = {**definition_of(row).__dict__, **changes}
    definition = CalendarDefinition(**merged)
    built = _checked(definition)
    if _name_taken(session, definition.name, other_than=row.id):
        raise Conflict(
            msg("a calendar named {name!r} exists", name=definition.name.strip()), field="name"
        )
    _store(row, definition, built)
    forget_memo(session, CHOSEN)
    session.flush()
    return row


def delete_calendar(session: Session, calendar_id: int) -> None:
    """Delete a calendar no policy or clock uses. Raises NotFound, Conflict."""
    row = get_calendar(session, calendar_id)
    used = session.scalar(
        select(
            exists().where(SlaPolicy.calendar_id == row.id)
            | exists().where(SlaClock.calendar_id == row.id)
        )
    )
    if used:
        raise Conflict("policies or clocks use this calendar: change them first", field="id")
    session.delete(row)
    forget_memo(session, CHOSEN)
    session.flush()


def get_calendar(session: Session, calendar_id: int) -> SlaCalendar:
    row = session.get(SlaCalendar, calendar_id)
    if row is None:
        raise NotFound(
            msg("no calendar {calendar_id}", calendar_id=calendar_id), field="calendar_id"
        )
    return row


def calendar_named(session: Session, name: str) -> SlaCalendar:
    row = session.scalar(select(SlaCalendar).where(SlaCalendar.name == name))
    if row is None:
        raise NotFound(msg("no calendar named {name!r}", name=name), field="calendar")
    return row


def list_calendars(session: Session) -> list[SlaCalendar]:
    return list(session.scalars(select(SlaCalendar).order_by(SlaCalendar.name)))


def definition_of(row: SlaCalendar) -> CalendarDefinition:
    return CalendarDefinition(
        name=row.name,
        hours=loads(row.hours),
        timezone=row.timezone,
        region=row.region,
        extra_holidays=tuple(loads(row.extra_holidays)),
        extra_workdays=tuple(loads(row.extra_workdays)),
    )


_built: dict[int, tuple[datetime, BusinessCalendar]] = {}
_built_lock = Lock()


def business_calendar(row: SlaCalendar) -> BusinessCalendar:
    """The working-time rules of a stored calendar (cached until the row changes)."""
    version = as_utc(row.updated_at)
    with _built_lock:
        cached = _built.get(row.id)
    if cached is not None and cached[0] == version:
        return cached[1]
    definition = definition_of(row)
    built = BusinessCalendar.build(
        hours=definition.hours,
        timezone=definition.timezone,
        region=definition.region,
        extra_holidays=definition.extra_holidays,
        extra_workdays=definition.extra_workdays,
    )
    with _built_lock:
        _built[row.id] = (version, built)
    return built


def coverage_warning(built: BusinessCalendar, start: datetime, end: datetime) -> str | None:
    """A sentence when official holidays between two moments are unknown, else None."""
    years = built.uncovered_years(start, end)
    if not years:
        return None
    last: date | None = built.coverage_end
    listed = ", ".join(str(y) for y in years)
    return (
        f"official holidays are known up to {last.isoformat() if last else '?'}; for"
        f" {listed} only weekends and this calendar's extra holidays and working days count"
        " (add the announced holidays and make-up days as extra dates, or update"
        " chinesecalendar)"
    )
