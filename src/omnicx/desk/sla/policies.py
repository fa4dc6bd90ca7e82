"""SLA policies: targets per team, ticket type and priority, and which one applies.

A policy leaves any of team, ticket type and priority empty to match every value. The
policy that applies is the most specific enabled match: one that names the team beats
one that does not, then the ticket type, then the priority; the oldest wins a tie.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from omnicx.core.database import forget_memo
from omnicx.core.errors import Conflict, InvalidInput, NotFound, check_text
from omnicx.core.i18n import msg
from omnicx.core.time import utcnow
from omnicx.desk.sla.calendars import CHOSEN, get_calendar
from omnicx.desk.sla.models import METRICS, PRIORITIES, SlaClock, SlaPolicy

NAME_MAX = 100
TYPE_MAX = 64
# A target longer than a year of business time is a typo, not a promise.
SECONDS_MAX = 366 * 24 * 3600


@dataclass(frozen=True)
class PolicyDefinition:
    name: str
    calendar_id: int
    team_id: int | None = None
    ticket_type: str | None = None
    priority: str | None = None
    first_response_seconds: int | None = None
    next_response_seconds: int | None = None
    resolution_seconds: int | None = None
    at_risk_fraction: float = 0.8
    enabled: bool = True


def _check(session: Session, definition: PolicyDefinition, other_than: int | None) -> None:
    name = definition.name.strip()
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(
            msg("a policy name is 1 to {maximum} characters", maximum=NAME_MAX), field="name"
        )
    check_text(name, "name")
    for metric in METRICS:
        seconds = getattr(definition, f"{metric}_seconds")
        if seconds is not None and not 0 < seconds <= SECONDS_MAX:
            raise InvalidInput(
                msg(
                    "{metric} target must be 1 to {maximum} business seconds (or empty)",
                    metric=metric,
                    maximum=SECONDS_MAX,
                ),
                field=f"{metric}_seconds",
            )
    if not 0 < definition.at_risk_fraction < 1:
        raise InvalidInput(
            "at_risk_fraction is between 0 and 1, e.g. 0.8", field="at_risk_fraction"
        )
    if definition.priority is not None and definition.priority not in PRIORITIES:
        raise InvalidInput(
            msg("priority is one of {names}", names=", ".join(PRIORITIES)), field="priority"
        )
    if definition.ticket_type is not None:
        if not definition.ticket_type.strip() or len(definition.ticket_type) > TYPE_MAX:
            raise InvalidInput(
                msg("a ticket type is 1 to {maximum} characters", maximum=TYPE_MAX),
                field="ticket_type",
            )
        check_text(definition.ticket_type, "ticket_type")
    if definition.team_id is not None and definition.team_id <= 0:
        raise InvalidInput("team_id is a positive id", field="team_id")
    get_calendar(session, definition.calendar_id)  # NotFound names calendar_id
    taken = select(SlaPolicy.id).where(SlaPolicy.name == name)
    if other_than is not None:
        taken = taken.where(SlaPolicy.id != other_than)
    if session.scalar(taken) is not None:
        raise Conflict(msg("a policy named {name!r} exists", name=name), field="name")


def _store(row: SlaPolicy, definition: PolicyDefinition) -> None:
    for item in fields(PolicyDefinition):
        setattr(row, item.name, getattr(definition, item.name))
    row.name = definition.name.strip()
    row.updated_at = utcnow()


def create_policy(session: Session, definition: PolicyDefinition) -> SlaPolicy:
    """Store a new policy. Raises InvalidInput, NotFound (calendar), Conflict (name)."""
    _check(session, definition, None)
    row = SlaPolicy(created_at=utcnow())
    _store(row, definition)
    session.add(row)
    forget_memo(session, CHOSEN)
    session.flush()
    return row


def update_policy(session: Session, policy_id: int, changes: dict[str, Any]) -> SlaPolicy:
    """Change some fields; running clocks keep the goal they started with."""
    row = get_policy(session, policy_id)
    current = {item.name: getattr(row, item.name) for item in fields(PolicyDefinition)}
    definition = PolicyDefinition(**{**current, **changes})
    _check(session, definition, row.id)
    _store(row, definition)
    forget_memo(session, CHOSEN)
    session.flush()
    return row


def delete_policy(session: Session, policy_id: int) -> None:
    """Delete a policy no clock was measured by (disable it otherwise). Raises Conflict."""
    row = get_policy(session, policy_id)
    if session.scalar(select(exists().where(SlaClock.policy_id == row.id))):
        raise Conflict("clocks were measured by this policy: disable it instead", field="id")
    session.delete(row)
    forget_memo(session, CHOSEN)
    session.flush()


def get_policy(session: Session, policy_id: int) -> SlaPolicy:
    row = session.get(SlaPolicy, policy_id)
    if row is None:
        raise NotFound(msg("no SLA policy {policy_id}", policy_id=policy_id), field="policy_id")
    return row


def list_policies(session: Session) -> list[SlaPolicy]:
    return list(session.scalars(select(SlaPolicy).order_by(SlaPolicy.name)))


def choose_policy(
    session: Session, team_id: int | None, ticket_type: str | None, priority: str | None
) -> SlaPolicy | None:
    """The most specific enabled policy matching a team, ticket type and priority."""
    candidates = session.scalars(
        select(SlaPolicy).where(
            SlaPolicy.enabled.is_(True),
            or_(SlaPolicy.team_id.is_(None), SlaPolicy.team_id == team_id),
            or_(SlaPolicy.ticket_type.is_(None), SlaPolicy.ticket_type == ticket_type),
            or_(SlaPolicy.priority.is_(None), SlaPolicy.priority == priority),
        )
    ).all()
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda p: (
            p.team_id is not None,
            p.ticket_type is not None,
            p.priority is not None,
            -p.id,
        ),
    )
