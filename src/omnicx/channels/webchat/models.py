"""Web chat's transcript: what each visitor thread said and what was delivered to it.

The widget shows a returning visitor their history from here (never from the event log,
which holds every customer's data), and each API process follows this table to push
deliveries to the sockets it holds (``live.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId

TEXT_PURPOSE = "webchat_messages.text"
ATTACHMENTS_PURPOSE = "webchat_messages.attachments"
INBOUND, OUTBOUND = "in", "out"


class WebchatMessage(Base):
    __tablename__ = "webchat_messages"
    __table_args__ = (
        # A redelivered outbox message or a retried visitor message is recorded once.
        UniqueConstraint("channel_id", "message_id", name="uq_webchat_messages_message"),
        Index("ix_webchat_messages_thread", "channel_id", "thread", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(Integer)
    # "v:<visitor id>" for an anonymous visitor, "u:<user id>" for a user the site vouched for.
    thread: Mapped[str] = mapped_column(String(220))
    direction: Mapped[str] = mapped_column(String(3))  # "in" from the visitor, "out" to them
    message_id: Mapped[str] = mapped_column(String(220))
    text: Mapped[str] = mapped_column(EncryptedText(TEXT_PURPOSE))
    author_name: Mapped[str | None] = mapped_column(String(200))
    # JSON list of the files the line carries (id, name, type, size); None: none.
    attachments: Mapped[str | None] = mapped_column(EncryptedText(ATTACHMENTS_PURPOSE))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
