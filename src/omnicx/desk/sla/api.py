"""``/api/v1/calendars`` and ``/api/v1/sla-policies``: the desk's business calendars and
SLA policies. Reading needs ``desk:read``, changing ``desk:manage``; changes are audited.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput
from omnicx.core.i18n import msg
from omnicx.core.serialization import loads
from omnicx.core.time import utcnow
from omnicx.desk.sla import service
from omnicx.desk.sla.models import SlaCalendar, SlaPolicy
from omnicx.desk.sla.schemas import (
    CalendarIn,
    CalendarList,
    CalendarOut,
    CalendarPatch,
    PolicyIn,
    PolicyList,
    PolicyOut,
    PolicyPatch,
)
from omnicx.governance import audit
from omnicx.governance.api import client_ip, require
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal

calendars_router = APIRouter(prefix="/api/v1/calendars", tags=["desk"])
policies_router = APIRouter(prefix="/api/v1/sla-policies", tags=["desk"])

Reader = Annotated[Principal, Depends(require(Permission.DESK_READ))]
Manager = Annotated[Principal, Depends(require(Permission.DESK_MANAGE))]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# The warning looks this far ahead: SLA due times and reports reach into the next year.
LOOK_AHEAD = timedelta(days=366)


def _sent(body: BaseModel, required: tuple[str, ...]) -> dict[str, Any]:
    """The fields a PATCH sent; a field that cannot be empty may not be sent as null."""
    changes = body.model_dump(exclude_unset=True)
    for name in required:
        if name in changes and changes[name] is None:
            raise InvalidInput(msg("{name} cannot be null", name=name), field=name)
    return changes


# -- calendars ----------------------------------------------------------------------------


def _calendar_out(row: SlaCalendar) -> CalendarOut:
    built = service.business_calendar(row)
    now = utcnow()
    return CalendarOut(
        id=row.id,
        name=row.name,
        timezone=row.timezone,
        hours=loads(row.hours),
        region=row.region,
        extra_holidays=[date.fromisoformat(d) for d in loads(row.extra_holidays)],
        extra_workdays=[date.fromisoformat(d) for d in loads(row.extra_workdays)],
        holidays_known_until=built.coverage_end,
        warning=service.coverage_warning(built, now, now + LOOK_AHEAD),
        updated_at=row.updated_at,
    )


def _calendar_fields(changes: dict[str, Any]) -> dict[str, Any]:
    for name in ("extra_holidays", "extra_workdays"):
        if name in changes:
            changes[name] = [d.isoformat() for d in changes[name]]
    return changes


@calendars_router.get("", response_model=CalendarList, summary="Business-hours calendars")
def list_calendars(principal: Reader) -> CalendarList:
    with get_database().read() as session:
        return CalendarList(calendars=[_calendar_out(r) for r in service.list_calendars(session)])


@calendars_router.post(
    "", response_model=CalendarOut, status_code=201, summary="Create a business calendar"
)
def create_calendar(principal: Manager, body: CalendarIn, request: Request) -> CalendarOut:
    """Weekly hours in a time zone; region CN takes official holidays and make-up working
    days from chinesecalendar. 400 names the faulty field (unknown time zone, overlapping
    or reversed hours, a date both extra holiday and extra working day); 409 a name in use."""
    definition = service.CalendarDefinition(**_calendar_fields(body.model_dump()))
    with get_database().write() as session:
        row = service.create_calendar(session, definition)
        _audit(session, principal, request, "sla.calendar.create", "calendar", row.id, body)
        answer = _calendar_out(row)
    return answer


@calendars_router.get("/{calendar_id}", response_model=CalendarOut, summary="One calendar")
def get_calendar(principal: Reader, calendar_id: ItemId) -> CalendarOut:
    with get_database().read() as session:
        return _calendar_out(service.get_calendar(session, calendar_id))


@calendars_router.patch("/{calendar_id}", response_model=CalendarOut, summary="Change a calendar")
def update_calendar(
    principal: Manager, calendar_id: ItemId, body: CalendarPatch, request: Request
) -> CalendarOut:
    """Running clocks keep their due times; clocks started afterwards use the change."""
    changes = _calendar_fields(
        _sent(body, ("name", "timezone", "hours", "extra_holidays", "extra_workdays"))
    )
    with get_database().write() as session:
        row = service.update_calendar(session, calendar_id, changes)
        _audit(session, principal, request, "sla.calendar.update", "calendar", row.id, body)
        answer = _calendar_out(row)
    return answer


@calendars_router.delete(
    "/{calendar_id}", status_code=204, response_class=Response, summary="Delete a calendar"
)
def delete_calendar(principal: Manager, calendar_id: ItemId, request: Request) -> Response:
    """409 while a policy or a clock uses it."""
    with get_database().write() as session:
        service.delete_calendar(session, calendar_id)
        _audit(session, principal, request, "sla.calendar.delete", "calendar", calendar_id, None)
    return Response(status_code=204)


# -- policies -----------------------------------------------------------------------------


@policies_router.get("", response_model=PolicyList, summary="SLA policies")
def list_policies(principal: Reader) -> PolicyList:
    with get_database().read() as session:
        return PolicyList(
            policies=[PolicyOut.model_validate(p) for p in service.list_policies(session)]
        )


@policies_router.post("", response_model=PolicyOut, status_code=201, summary="Create an SLA policy")
def create_policy(principal: Manager, body: PolicyIn, request: Request) -> PolicyOut:
    """Targets in business seconds (null: not measured) for a team, ticket type and
    priority (null: any). The most specific enabled policy applies to a conversation."""
    with get_database().write() as session:
        row: SlaPolicy = service.create_policy(
            session, service.PolicyDefinition(**body.model_dump())
        )
        _audit(session, principal, request, "sla.policy.create", "sla_policy", row.id, body)
        answer = PolicyOut.model_validate(row)
    return answer


@policies_router.get("/{policy_id}", response_model=PolicyOut, summary="One SLA policy")
def get_policy(principal: Reader, policy_id: ItemId) -> PolicyOut:
    with get_database().read() as session:
        return PolicyOut.model_validate(service.get_policy(session, policy_id))


@policies_router.patch("/{policy_id}", response_model=PolicyOut, summary="Change an SLA policy")
def update_policy(
    principal: Manager, policy_id: ItemId, body: PolicyPatch, request: Request
) -> PolicyOut:
    """Running clocks keep the goal they started with."""
    changes = _sent(body, ("name", "calendar_id", "at_risk_fraction", "enabled"))
    with get_database().write() as session:
        row = service.update_policy(session, policy_id, changes)
        _audit(session, principal, request, "sla.policy.update", "sla_policy", row.id, body)
        answer = PolicyOut.model_validate(row)
    return answer


@policies_router.delete(
    "/{policy_id}", status_code=204, response_class=Response, summary="Delete an SLA policy"
)
def delete_policy(principal: Manager, policy_id: ItemId, request: Request) -> Response:
    """409 once clocks were measured by it: disable it instead (``enabled: false``)."""
    with get_database().write() as session:
        service.delete_policy(session, policy_id)
        _audit(session, principal, request, "sla.policy.delete", "sla_policy", policy_id, None)
    return Response(status_code=204)


def _audit(
    session: Any,
    principal: Principal,
    request: Request,
    action: str,
    target_type: str,
    target_id: int,
    body: BaseModel | None,
) -> None:
    detail = body.model_dump(mode="json", exclude_unset=True) if body is not None else {}
    audit.record(
        session,
        principal,
        action,
        target_type=target_type,
        target_id=target_id,
        detail=detail,
        ip=client_ip(request),
    )
