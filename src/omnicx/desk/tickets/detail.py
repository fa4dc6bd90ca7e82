"""One ticket as its reader sees it: the customer masked for the role, the linked
conversations, the comments (free text, masked like messages) and the history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.serialization import loads
from omnicx.desk.models import Conversation
from omnicx.desk.tickets.access import LoadedTicket
from omnicx.desk.tickets.models import TicketChange, TicketComment, TicketConversation
from omnicx.desk.tickets.schemas import ChangeOut, CommentOut, TicketDetail, TicketOut


def ticket_detail(session: Session, loaded: LoadedTicket) -> TicketDetail:
    """The ticket, shaped for ``loaded``'s reader. Showing the customer is a read of
    customer data: the caller audits it (``governance.access.view_entry``)."""
    ticket = loaded.row
    links = session.scalars(
        select(TicketConversation.conversation_id)
        .where(TicketConversation.ticket_id == ticket.id)
        .order_by(TicketConversation.linked_at)
    )
    comments = session.scalars(
        select(TicketComment).where(TicketComment.ticket_id == ticket.id).order_by(TicketComment.id)
    )
    history = session.scalars(
        select(TicketChange).where(TicketChange.ticket_id == ticket.id).order_by(TicketChange.id)
    )
    return TicketDetail(
        **TicketOut.of(ticket).model_dump(),
        customer=loaded.customer(session),
        conversation_ids=list(links),
        # Comments are free text written by agents: masked for the reader like messages.
        comments=[
            CommentOut(
                id=c.id,
                author_user_id=c.author_user_id,
                text=loaded.view.text(c.text),
                created_at=c.created_at,
            )
            for c in comments
        ],
        history=[
            ChangeOut(
                actor=h.actor, action=h.action, detail=loads(h.detail), created_at=h.created_at
            )
            for h in history
        ],
    )


@dataclass(frozen=True)
class LinkedConversation:
    """A conversation beside a ticket; channel and status only when the reader may see it
    (a link made by someone who could must not leak what another team talks about)."""

    id: int
    visible: bool
    channel: str | None = None
    status: str | None = None
    updated_at: datetime | None = None


def linked_conversations(
    session: Session, loaded: LoadedTicket, conversation_ids: Sequence[int]
) -> list[LinkedConversation]:
    """The ticket's linked conversations, in link order, as its reader may see them."""
    if not conversation_ids:
        return []
    seen = {
        row.id: row
        for row in session.scalars(
            select(Conversation).where(
                Conversation.id.in_(list(conversation_ids)), loaded.reach.clause()
            )
        )
    }
    return [
        _linked(seen[i]) if i in seen else LinkedConversation(i, False) for i in conversation_ids
    ]


def conversations_to_link(
    session: Session, loaded: LoadedTicket, linked: Sequence[int], limit: int = 20
) -> list[LinkedConversation]:
    """The ticket customer's other conversations the reader may see, latest first: what
    the page offers to link."""
    if loaded.row.customer_id is None:
        return []
    rows = session.scalars(
        select(Conversation)
        .where(
            Conversation.customer_id == loaded.row.customer_id,
            Conversation.id.not_in(list(linked) or [-1]),
            loaded.reach.clause(),
        )
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return [_linked(row) for row in rows]


def _linked(row: Conversation) -> LinkedConversation:
    return LinkedConversation(row.id, True, row.channel, row.status, row.updated_at)
