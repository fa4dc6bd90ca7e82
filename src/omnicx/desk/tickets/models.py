"""The tickets' tables (the desk's; others read them through the desk's API)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId

TYPES = ("inquiry", "complaint", "after_sales", "invoice", "repair", "other")
STATUSES = ("new", "open", "pending", "resolved", "closed")
# Statuses in which the ticket is still worked on (its resolution clock runs or waits).
ACTIVE_STATUSES = ("new", "open", "pending")
# Where a ticket may go from each status. "new" only means nobody has worked on it yet,
# so nothing leads back to it; a resolved ticket may be opened again; closed is final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("open", "pending", "resolved", "closed"),
    "open": ("pending", "resolved", "closed"),
    "pending": ("open", "resolved", "closed"),
    "resolved": ("open", "closed"),
    "closed": (),
}
COMMENT_PURPOSE = "desk_ticket_comments.text"


class Ticket(Base):
    __tablename__ = "desk_tickets"
    __table_args__ = (
        Index("ix_desk_tickets_queue", "team_id", "owner_id", "status"),
        Index("ix_desk_tickets_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # A short summary an agent writes ("空调漏水，需上门维修"): may name the problem,
    # never meant for personal data, but encrypted all the same.
    title: Mapped[str] = mapped_column(EncryptedText("desk_tickets.title"))
    type: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(16), default="new")
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    team_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("desk_teams.id"))
    owner_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TicketConversation(Base):
    """A conversation linked to a ticket (a ticket may gather several)."""

    __tablename__ = "desk_ticket_conversations"
    __table_args__ = (Index("ix_desk_ticket_conversations_conversation", "conversation_id"),)

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("desk_tickets.id"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("desk_conversations.id"), primary_key=True
    )
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TicketComment(Base):
    """An internal comment: seen by desk users, never by the customer."""

    __tablename__ = "desk_ticket_comments"
    __table_args__ = (Index("ix_desk_ticket_comments_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("desk_tickets.id"))
    author_user_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(EncryptedText(COMMENT_PURPOSE))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TicketChange(Base):
    """One change to a ticket: who, what (field names and values, never comment text),
    when."""

    __tablename__ = "desk_ticket_history"
    __table_args__ = (Index("ix_desk_ticket_history_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("desk_tickets.id"))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
