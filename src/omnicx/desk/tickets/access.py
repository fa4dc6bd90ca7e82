"""Row-level access to tickets: the one way a route loads a ticket.

As for conversations (``desk.access``): agents see the tickets they own and their
teams' tickets; principals with ``desk:manage`` see all; a ticket the principal may not
see is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from omnicx.core.errors import NotFound
from omnicx.core.i18n import msg
from omnicx.desk.access import Reach, customer_fields, reach_of
from omnicx.desk.tickets.models import Ticket
from omnicx.governance.access import RoleView, view_for
from omnicx.governance.service import Principal


def visible(reach: Reach) -> ColumnElement[bool]:
    if reach.everything:
        return true()
    parts: list[ColumnElement[bool]] = []
    if reach.user_id is not None:
        parts.append(Ticket.owner_id == reach.user_id)
    if reach.team_ids:
        parts.append(Ticket.team_id.in_(reach.team_ids))
    return or_(*parts) if parts else false()


@dataclass
class LoadedTicket:
    row: Ticket
    view: RoleView
    reach: Reach
    principal: Principal

    def customer(self, session: Session) -> dict[str, Any]:
        return customer_fields(session, self.view, self.row.customer_id)


def load_ticket(
    session: Session, principal: Principal, ticket_id: int, *, for_update: bool = False
) -> LoadedTicket:
    """Load and authorise a ticket for ``principal``. Raises NotFound (also when it exists
    but the principal may not see it)."""
    reach = reach_of(session, principal)
    stmt = select(Ticket).where(Ticket.id == ticket_id, visible(reach))
    if for_update:
        # NO KEY UPDATE: a comment or link inserted meanwhile takes FOR KEY SHARE on its ticket
        # (its foreign key), which must not wait for an agent's command.
        stmt = stmt.with_for_update(key_share=True)
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(msg("no ticket {ticket_id}", ticket_id=ticket_id), field="ticket_id")
    return LoadedTicket(
        row=row, view=view_for(session, principal), reach=reach, principal=principal
    )
