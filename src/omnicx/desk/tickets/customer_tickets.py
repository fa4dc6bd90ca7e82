"""A customer's open tickets, as far as the reader may see them (the console's customer
panel). Titles are free text an agent wrote: masked for the reader like comments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.desk.access import Reach
from omnicx.desk.tickets.access import visible
from omnicx.desk.tickets.models import ACTIVE_STATUSES, Ticket
from omnicx.governance.access import RoleView


@dataclass(frozen=True)
class TicketLine:
    id: int
    title: str
    type: str
    priority: str
    status: str
    updated_at: datetime


def open_tickets_of(
    session: Session, reach: Reach, view: RoleView, customer_id: int, limit: int = 20
) -> list[TicketLine]:
    """The customer's tickets still worked on (new, open, pending) that ``reach`` may
    see, most recently changed first."""
    rows = session.scalars(
        select(Ticket)
        .where(
            Ticket.customer_id == customer_id,
            Ticket.status.in_(ACTIVE_STATUSES),
            visible(reach),
        )
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return [
        TicketLine(
            id=t.id,
            title=view.text(t.title),
            type=t.type,
            priority=t.priority,
            status=t.status,
            updated_at=t.updated_at,
        )
        for t in rows
    ]
