"""The ticket list: what a principal may see, filtered, newest first, with keyset paging
on the ticket id (ids only grow, so a page never repeats nor skips a ticket)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput
from omnicx.core.i18n import msg
from omnicx.desk.access import Reach
from omnicx.desk.models import PRIORITIES
from omnicx.desk.tickets.access import visible
from omnicx.desk.tickets.models import STATUSES, TYPES, Ticket

VIEWS = ("mine", "team", "all")


@dataclass(frozen=True)
class TicketFilters:
    view: str = "all"
    status: str | None = None
    type: str | None = None
    priority: str | None = None
    team_id: int | None = None
    # Tickets of any of these customers (None: any customer; empty: none).
    customer_ids: Sequence[int] | None = None

    def check(self) -> None:
        """Raises InvalidInput naming the first value that is not one of its choices."""
        for field, value, allowed in (
            ("view", self.view, VIEWS),
            ("status", self.status, STATUSES),
            ("type", self.type, TYPES),
            ("priority", self.priority, PRIORITIES),
        ):
            if value is not None and value not in allowed:
                raise InvalidInput(
                    msg("{field} is one of {names}", field=field, names=", ".join(allowed)),
                    field=field,
                )


def list_tickets(
    session: Session,
    reach: Reach,
    filters: TicketFilters = TicketFilters(),
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Ticket], str | None]:
    """A page of the tickets ``reach`` may see, newest first, and the next page's cursor."""
    filters.check()
    where: list[ColumnElement[bool]] = [visible(reach)]
    if filters.view == "mine":
        where.append(Ticket.owner_id == (reach.user_id or -1))
    elif filters.view == "team":
        where.append(Ticket.team_id.in_(reach.team_ids or (-1,)))
    for column, value in (
        (Ticket.status, filters.status),
        (Ticket.type, filters.type),
        (Ticket.priority, filters.priority),
        (Ticket.team_id, filters.team_id),
    ):
        if value is not None:
            where.append(column == value)
    if filters.customer_ids is not None:
        where.append(Ticket.customer_id.in_(list(filters.customer_ids) or [-1]))
    if cursor:
        where.append(Ticket.id < decode_cursor(cursor))
    rows = list(
        session.scalars(select(Ticket).where(*where).order_by(Ticket.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, str(rows[-1].id) if more and rows else None


def decode_cursor(cursor: str) -> int:
    """The id a page starts below. Raises InvalidInput for a cursor this list did not give."""
    if not cursor.isdigit() or not 0 < int(cursor) <= 2**62:
        raise InvalidInput("cursor is not one this list gave out", field="cursor")
    return int(cursor)
