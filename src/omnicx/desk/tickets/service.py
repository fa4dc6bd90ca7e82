"""Creating and changing tickets; every change leaves a history row (who, what, when) and
the ticket's SLA resolution clock follows its status.

A ticket is created by the API, from a conversation (it takes the conversation's
customer and team, and links it), or later by rules. An agent may create tickets and
change those they can see; only ``desk:manage`` may give a ticket to someone else or to
another team, as with conversations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict, Forbidden, InvalidInput, NotFound, check_text
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps
from omnicx.core.time import as_utc, utcnow
from omnicx.desk.access import LoadedConversation
from omnicx.desk.models import PRIORITIES, Agent
from omnicx.desk.sla.service import meet_clock, pause_clock, resume_clock, start_clock
from omnicx.desk.teams import ensure_agent, team_by_ref
from omnicx.desk.tickets.access import LoadedTicket
from omnicx.desk.tickets.models import (
    ACTIVE_STATUSES,
    STATUSES,
    TRANSITIONS,
    TYPES,
    Ticket,
    TicketChange,
    TicketComment,
    TicketConversation,
)
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.identity.service import current_customer_id

MAX_TITLE = 200
MAX_COMMENT = 10_000
MAX_LINKS = 50
TARGET = "ticket"


def _title(title: str) -> str:
    title = title.strip()
    check_text(title, "title")
    if not title or len(title) > MAX_TITLE:
        raise InvalidInput(
            msg("a title is 1 to {maximum} characters", maximum=MAX_TITLE), field="title"
        )
    return title


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(
            msg("{field} is one of {names}", field=field, names=", ".join(allowed)), field=field
        )
    return value


def record(
    session: Session, ticket: Ticket, actor: str, action: str, detail: dict[str, Any]
) -> None:
    session.add(
        TicketChange(
            ticket_id=ticket.id,
            actor=actor,
            action=action,
            detail=dumps(detail),
            created_at=utcnow(),
        )
    )


def create_ticket(
    session: Session,
    principal: Principal,
    acting_user: int | None,
    *,
    title: str,
    type: str,
    priority: str = "normal",
    customer_id: int | None = None,
    team_id: int | None = None,
    owner_id: int | None = None,
    conversation: LoadedConversation | None = None,
) -> Ticket:
    """A new ticket (owned by its creator unless a manager names someone else)."""
    manager = principal.may(Permission.DESK_MANAGE)
    if conversation is not None:
        customer_id = customer_id or conversation.row.customer_id
        team_id = team_id or conversation.row.team_id
    if customer_id is not None:
        # A ticket names a customer who exists (the survivor, when merged away).
        try:
            customer_id = current_customer_id(session, customer_id)
        except NotFound as exc:
            raise NotFound(
                msg("no customer {customer_id}", customer_id=customer_id), field="customer_id"
            ) from exc
    if owner_id is None:
        owner_id = acting_user
    elif owner_id != acting_user and not manager:
        raise Forbidden("agents may only create tickets they own", field="owner_id")
    if team_id is not None:
        team_id = team_by_ref(session, team_id).id
    if owner_id is not None:
        ensure_agent(session, owner_id)
    now = utcnow()
    ticket = Ticket(
        title=_title(title),
        type=_choice(type, TYPES, "type"),
        priority=_choice(priority, PRIORITIES, "priority"),
        status="new",
        customer_id=customer_id,
        team_id=team_id,
        owner_id=owner_id,
        created_by=principal.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    record(
        session,
        ticket,
        principal.actor,
        "created",
        {
            "type": ticket.type,
            "priority": ticket.priority,
            "team_id": team_id,
            "owner_id": owner_id,
        },
    )
    if conversation is not None:
        _link(session, ticket, conversation.row.id, principal.actor)
    follow(session, ticket, now)
    return ticket


def update_ticket(session: Session, loaded: LoadedTicket, changes: dict[str, Any]) -> Ticket:
    """Change title, type, priority, status, owner or team (only the fields given)."""
    ticket, principal = loaded.row, loaded.principal
    manager = principal.may(Permission.DESK_MANAGE)
    before = {k: getattr(ticket, k) for k in changes}
    if "title" in changes:
        ticket.title = _title(changes["title"])
    if "type" in changes:
        ticket.type = _choice(changes["type"], TYPES, "type")
    if "priority" in changes:
        ticket.priority = _choice(changes["priority"], PRIORITIES, "priority")
    if "owner_id" in changes and changes["owner_id"] != ticket.owner_id:
        owner = changes["owner_id"]
        if not manager and owner != loaded.reach.user_id:
            raise Forbidden("agents may only take a ticket themselves", field="owner_id")
        ticket.owner_id = ensure_agent(session, owner).user_id if owner is not None else None
    if "team_id" in changes and changes["team_id"] != ticket.team_id:
        if not may_move_team(principal):
            raise Forbidden("moving a ticket to another team needs desk:manage", field="team_id")
        team = changes["team_id"]
        ticket.team_id = team_by_ref(session, team).id if team is not None else None
    if "status" in changes:
        _set_status(ticket, _choice(changes["status"], STATUSES, "status"))
    now = utcnow()
    ticket.updated_at = now
    after = {k: getattr(ticket, k) for k in changes}
    changed = {k: {"from": before[k], "to": after[k]} for k in changes if before[k] != after[k]}
    if "title" in changed:
        changed["title"] = {"changed": True}  # the text itself stays out of the history
    if changed:
        record(session, ticket, principal.actor, "updated", changed)
    follow(session, ticket, now)
    return ticket


def owner_choices(session: Session, loaded: LoadedTicket) -> list[int]:
    """Whom the reader may make the ticket's owner (the rule ``update_ticket`` applies):
    any agent with ``desk:manage``, otherwise only themselves; the owner now comes first."""
    if loaded.principal.may(Permission.DESK_MANAGE):
        ids = list(session.scalars(select(Agent.user_id).order_by(Agent.user_id)))
    else:
        ids = [loaded.reach.user_id] if loaded.reach.user_id is not None else []
    owner = loaded.row.owner_id
    return ([owner] if owner is not None else []) + [i for i in ids if i != owner]


def may_move_team(principal: Principal) -> bool:
    """Whether ``principal`` may give a ticket to another team (``update_ticket``'s rule)."""
    return principal.may(Permission.DESK_MANAGE)


def next_statuses(status: str) -> tuple[str, ...]:
    """The statuses a ticket in ``status`` may be given (``TRANSITIONS``)."""
    return TRANSITIONS.get(status, ())


def _set_status(ticket: Ticket, status: str) -> None:
    if status == ticket.status:
        return
    if ticket.status == "closed":
        raise Conflict("a closed ticket stays closed: open a new one", field="status")
    if status not in next_statuses(ticket.status):
        raise Conflict(
            msg(
                "a {current} ticket can become {allowed}, not {status}",
                current=ticket.status,
                allowed=", ".join(next_statuses(ticket.status)),
                status=status,
            ),
            field="status",
        )
    ticket.status = status
    if status in ("resolved", "closed"):
        ticket.resolved_at = ticket.resolved_at or utcnow()
    else:
        ticket.resolved_at = None


def link_conversation(
    session: Session, loaded: LoadedTicket, conversation: LoadedConversation
) -> None:
    """Link a conversation the caller may see (a no-op when it is linked already)."""
    count = session.scalar(
        select(func.count())
        .select_from(TicketConversation)
        .where(TicketConversation.ticket_id == loaded.row.id)
    )
    if (count or 0) >= MAX_LINKS:
        raise InvalidInput(
            msg("a ticket links at most {maximum} conversations", maximum=MAX_LINKS),
            field="conversation_id",
        )
    _link(session, loaded.row, conversation.row.id, loaded.principal.actor)


def _link(session: Session, ticket: Ticket, conversation_id: int, actor: str) -> None:
    known = session.get(TicketConversation, (ticket.id, conversation_id))
    if known is not None:
        return
    session.add(
        TicketConversation(ticket_id=ticket.id, conversation_id=conversation_id, linked_at=utcnow())
    )
    record(session, ticket, actor, "linked", {"conversation_id": conversation_id})


def add_comment(session: Session, loaded: LoadedTicket, text: str) -> TicketComment:
    """An internal comment by the caller; a new ticket becomes open."""
    text = text.strip()
    check_text(text, "text")
    if not text or len(text) > MAX_COMMENT:
        raise InvalidInput(
            msg("a comment is 1 to {maximum} characters", maximum=MAX_COMMENT), field="text"
        )
    comment = TicketComment(
        ticket_id=loaded.row.id,
        author_user_id=loaded.reach.user_id,
        text=text,
        created_at=utcnow(),
    )
    session.add(comment)
    session.flush()
    loaded.row.updated_at = comment.created_at
    if loaded.row.status == "new":
        loaded.row.status = "open"  # somebody works on it now
    record(session, loaded.row, loaded.principal.actor, "comment", {"comment_id": comment.id})
    follow(session, loaded.row, comment.created_at)
    return comment


def follow(session: Session, ticket: Ticket, at: datetime) -> None:
    """The ticket's resolution clock follows its status (idempotent): running while new
    or open, paused while pending (waiting on the customer), met when resolved or
    closed, and a new run when a resolved ticket is opened again."""
    at = as_utc(at)
    if ticket.status in ("resolved", "closed"):
        meet_clock(session, TARGET, ticket.id, "resolution", at)
    elif ticket.status == "pending":
        pause_clock(session, TARGET, ticket.id, "resolution", at)
    elif ticket.status in ACTIVE_STATUSES:
        resume_clock(session, TARGET, ticket.id, "resolution", at)
        start_clock(
            session,
            TARGET,
            ticket.id,
            "resolution",
            team_id=ticket.team_id,
            ticket_type=ticket.type,
            priority=ticket.priority,
            started_at=at,
        )
