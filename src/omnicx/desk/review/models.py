"""The review queues' tables.

``review_unmatched``: a customer identity created by a message from a sender no
customer had (a new openid, phone, e-mail, an anonymous visitor), for a supervisor to
link to an existing customer or dismiss. ``review_backfill``: an identifier value of a
type the CRM is authoritative for, seen from another source but never from the CRM.
``review_crm_identifiers``: the values the CRM has sent (by blind index), which resolve
and prevent backfill items.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId

UNMATCHED_STATUSES = ("open", "linking", "linked", "dismissed")
BACKFILL_STATUSES = ("open", "resolved")


class UnmatchedSender(Base):
    __tablename__ = "review_unmatched"
    __table_args__ = (Index("ix_review_unmatched_status", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId, unique=True)
    conversation_id: Mapped[int | None] = mapped_column(BigId)
    channel: Mapped[str] = mapped_column(String(32))
    first_message_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # open → linking (a person asked; identity merges) → linked | dismissed
    status: Mapped[str] = mapped_column(String(16), default="open")
    target_customer_id: Mapped[int | None] = mapped_column(BigId)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A person's words: may name someone, so encrypted at rest.
    note: Mapped[str | None] = mapped_column(EncryptedText("review.note"))


class BackfillItem(Base):
    __tablename__ = "review_backfill"
    __table_args__ = (Index("ix_review_backfill_status", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(20), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(100), default="")
    value: Mapped[str] = mapped_column(EncryptedText("review.value"))
    source_id: Mapped[int] = mapped_column(Integer)
    source_name: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int | None] = mapped_column(BigId)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    events: Mapped[int] = mapped_column(Integer, default=1)
    # The last event counted: a replay of the log counts nothing twice.
    last_seq: Mapped[int] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(16), default="open")
    # "crm" when the CRM sent the value, else the person who marked it resolved.
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(EncryptedText("review.note"))


class CrmIdentifier(Base):
    __tablename__ = "review_crm_identifiers"

    key_hash: Mapped[bytes] = mapped_column(LargeBinary(20), primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigId)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
