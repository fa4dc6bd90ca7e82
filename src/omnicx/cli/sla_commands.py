"""``omnicx sla``: business calendars, SLA policies, and due times on a calendar."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console

from omnicx.cli.errors import err, fail
from omnicx.cli.tables import readable_table
from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.serialization import loads
from omnicx.core.time import parse_timestamp, utcnow
from omnicx.desk.sla import service
from omnicx.desk.sla.calendars import OFFICE_HOURS

console = Console()
sla_app = typer.Typer(
    help="Desk SLAs: business calendars, policies, due times.", no_args_is_help=True
)
calendars_app = typer.Typer(help="Business-hours calendars.", no_args_is_help=True)
policies_app = typer.Typer(help="SLA policies.", no_args_is_help=True)
sla_app.add_typer(calendars_app, name="calendars")
sla_app.add_typer(policies_app, name="policies")

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | None, option: str) -> int | None:
    """``90``, ``90s``, ``30m``, ``4h`` (business time) → seconds; None stays None."""
    if text is None:
        return None
    match = _DURATION.match(text)
    if match is None:
        raise typer.BadParameter("a number of seconds, or 30m, 4h …", param_hint=option)
    return int(match.group(1)) * _UNIT[match.group(2)]


def _warn(message: str | None) -> None:
    if message:
        err.print(f"[yellow]warning:[/] {message}", soft_wrap=True)


@calendars_app.command("list")
def list_calendars() -> None:
    """Calendars with their hours, holiday source and how far official holidays are known."""
    table = readable_table("name", "zone", "hours", "holidays", shares={"hours": 3})
    now = utcnow()
    warning = None
    with get_database().read() as session:
        for row in service.list_calendars(session):
            built = service.business_calendar(row)
            hours = "; ".join(
                f"{day} {' '.join('–'.join(span) for span in spans)}"
                for day, spans in loads(row.hours).items()
            )
            known = built.coverage_end
            source = f"CN (known to {known.isoformat()})" if known else "weekends only"
            table.add_row(row.name, row.timezone, hours, source)
            warning = warning or service.coverage_warning(built, now, now + timedelta(days=366))
    console.print(table)
    _warn(warning)


@calendars_app.command("create")
def create_calendar(
    name: Annotated[str, typer.Option(help="A unique name, e.g. 上海客服中心")],
    timezone: Annotated[str, typer.Option(help="IANA time zone")] = "Asia/Shanghai",
    hours: Annotated[
        str | None,
        typer.Option(
            help='JSON, e.g. {"mon": [["09:00", "12:00"], ["13:30", "18:00"]]};'
            " default Monday–Friday 09:00–12:00, 13:30–18:00"
        ),
    ] = None,
    region: Annotated[
        str, typer.Option(help="CN: official holidays and 调休 days; none: weekends only")
    ] = "CN",
    holiday: Annotated[list[str] | None, typer.Option(help="An extra day off (repeatable)")] = None,
    workday: Annotated[
        list[str] | None, typer.Option(help="An extra working day (repeatable)")
    ] = None,
) -> None:
    """Create a business-hours calendar."""
    try:
        weekly: Any = json.loads(hours) if hours else OFFICE_HOURS
    except json.JSONDecodeError as exc:
        raise fail(f"--hours is not JSON: {exc}") from exc
    definition = service.CalendarDefinition(
        name=name,
        hours=weekly,
        timezone=timezone,
        region=None if region.lower() == "none" else region,
        extra_holidays=tuple(holiday or ()),
        extra_workdays=tuple(workday or ()),
    )
    try:
        with get_database().write() as session:
            row = service.create_calendar(session, definition)
            built = service.business_calendar(row)
    except OmniError as exc:
        raise fail(f"{exc.message} ({exc.field})" if exc.field else exc.message) from exc
    console.print(f"[green]created[/] calendar {row.id} {name}")
    now = utcnow()
    _warn(service.coverage_warning(built, now, now + timedelta(days=366)))


@policies_app.command("list")
def list_policies() -> None:
    """Policies, what they match (- = any) and their targets in business time."""
    table = readable_table(
        "name", "calendar", "team", "type", "priority", "first", "next", "resolve", "on"
    )
    with get_database().read() as session:
        names = {c.id: c.name for c in service.list_calendars(session)}
        for p in service.list_policies(session):
            table.add_row(
                p.name,
                names.get(p.calendar_id, str(p.calendar_id)),
                str(p.team_id) if p.team_id is not None else "-",
                p.ticket_type or "-",
                p.priority or "-",
                *(
                    _duration(s)
                    for s in (
                        p.first_response_seconds,
                        p.next_response_seconds,
                        p.resolution_seconds,
                    )
                ),
                "yes" if p.enabled else "no",
            )
    console.print(table)


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@policies_app.command("create")
def create_policy(
    name: Annotated[str, typer.Option(help="A unique name, e.g. VIP 客户")],
    calendar: Annotated[str, typer.Option(help="The calendar's name")],
    team_id: Annotated[int | None, typer.Option(help="Only this team (default any)")] = None,
    ticket_type: Annotated[str | None, typer.Option(help="Only this ticket type")] = None,
    priority: Annotated[str | None, typer.Option(help="low, normal, high or urgent")] = None,
    first_response: Annotated[str | None, typer.Option(help="e.g. 30m (business time)")] = None,
    next_response: Annotated[str | None, typer.Option(help="e.g. 1h")] = None,
    resolution: Annotated[str | None, typer.Option(help="e.g. 8h")] = None,
    at_risk: Annotated[float, typer.Option(help="At risk after this share")] = 0.8,
) -> None:
    """Create an SLA policy (targets left out are not measured)."""
    try:
        with get_database().write() as session:
            calendar_id = service.calendar_named(session, calendar).id
            row = service.create_policy(
                session,
                service.PolicyDefinition(
                    name=name,
                    calendar_id=calendar_id,
                    team_id=team_id,
                    ticket_type=ticket_type,
                    priority=priority,
                    at_risk_fraction=at_risk,
                    first_response_seconds=parse_duration(first_response, "--first-response"),
                    next_response_seconds=parse_duration(next_response, "--next-response"),
                    resolution_seconds=parse_duration(resolution, "--resolution"),
                ),
            )
            policy_id = row.id
    except OmniError as exc:
        raise fail(f"{exc.message} ({exc.field})" if exc.field else exc.message) from exc
    console.print(f"[green]created[/] policy {policy_id} {name}")


@sla_app.command("due")
def due(
    calendar: Annotated[str, typer.Option(help="The calendar's name")],
    start: Annotated[
        str, typer.Option("--from", help="ISO time, e.g. 2026-09-30T17:00+08:00 (naive: UTC)")
    ],
    seconds: Annotated[str, typer.Option(help="Business time: 7200, 2h, 30m …")],
) -> None:
    """Print the due time ``--seconds`` of business time after ``--from`` on a calendar
    (in the calendar's zone): a quick check of holidays and make-up days."""
    amount = parse_duration(seconds, "--seconds")
    assert amount is not None
    try:
        moment = parse_timestamp(start)
    except ValueError as exc:
        raise typer.BadParameter(
            "an ISO time, e.g. 2026-09-30T17:00+08:00", param_hint="--from"
        ) from exc
    try:
        with get_database().read() as session:
            built = service.business_calendar(service.calendar_named(session, calendar))
    except OmniError as exc:
        raise fail(exc.message) from exc
    due_at = built.add_business_seconds(moment, amount)
    console.print(due_at.isoformat())
    _warn(service.coverage_warning(built, moment, due_at))
