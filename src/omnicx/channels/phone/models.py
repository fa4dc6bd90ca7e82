"""The phone channel's own tables: each call's state (so a hang-up knows whether the
call was answered) and the webhook signatures seen (a signature is used once)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.database import Base


class PhoneCall(Base):
    """A call the PBX told us about. Holds no number: the caller is on the log, found
    there by identity; this row only says how far the call got."""

    __tablename__ = "phone_calls"

    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PhoneWebhookSignature(Base):
    """A signed webhook seen: the same signature again is a replay (a PBX that retries
    signs again with a new timestamp)."""

    __tablename__ = "phone_webhook_signatures"
    __table_args__ = (Index("ix_phone_webhook_signatures_seen", "seen_at"),)

    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # SHA-256 of the signature, hex.
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
