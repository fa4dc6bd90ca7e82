"""SMS's own tables: each text sent (the provider's id and delivery status, which the
provider's status callbacks move on) and, for the offline sink provider, what it would
have sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId

SINK_PURPOSE = "sms_sent.body"


class SmsMessage(Base):
    """A text handed to the provider, by the provider's id (Twilio's MessageSid). A status
    callback may arrive before the deliverer has recorded the send (Twilio calls back
    within milliseconds): whichever comes first creates the row, the other completes it."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        UniqueConstraint("channel_id", "provider_id", name="uq_sms_messages_provider_id"),
        Index("ix_sms_messages_outbox", "outbox_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(Integer)
    provider_id: Mapped[str] = mapped_column(String(64))
    # The outbox message it delivered (None until the deliverer records it).
    outbox_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # queued, sending, sent, delivered, undelivered, failed (Twilio's MessageStatus).
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The recipient's blind index (erasure finds the rows; no number is kept here).
    to_hash: Mapped[bytes | None] = mapped_column(LargeBinary(20), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsSinkEntry(Base):
    """What the sink provider would have sent (the offline demo): shown by ``omnicx
    channels sent``. The number and text are encrypted at rest."""

    __tablename__ = "sms_sink"
    __table_args__ = (Index("ix_sms_sink_channel", "channel_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(Integer)
    # The send it stands for (``SmsMessage.provider_id``, ``sink-<outbox id>``).
    provider_id: Mapped[str] = mapped_column(String(64))
    to_number: Mapped[str] = mapped_column(EncryptedText(SINK_PURPOSE))
    body: Mapped[str] = mapped_column(EncryptedText(SINK_PURPOSE))
    to_hash: Mapped[bytes] = mapped_column(LargeBinary(20), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
