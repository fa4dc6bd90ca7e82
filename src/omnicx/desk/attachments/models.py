"""The desk's attachment store: one row per file, its bytes encrypted in the database so
every process of every mode (SQLite, PostgreSQL) reads the same files."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId

NAME_PURPOSE = "desk_attachments.name"
KEY_PURPOSE = "desk_attachments.content_key"
CONTENT_PURPOSE = "desk_attachments.content"
UPLOADERS = ("agent", "customer")


class Attachment(Base):
    """A file a person sent or an agent attached, and whose conversation it belongs to.

    ``content`` is sealed with a key of its own, ``content_key``, which the key ring seals
    in turn (``core.crypto.seal_blob``): key rotation rewraps 32 bytes, not the file.
    ``name`` is the sanitised original name (customer data, encrypted); ``content_type``
    is what the bytes are, ``declared_type`` what the sender said they were.

    A customer's file arrives with a channel message (``channel``, ``message_id``) before
    the desk has placed that message; ``conversation_id`` is set when it does.
    """

    __tablename__ = "desk_attachments"
    __table_args__ = (
        Index("ix_desk_attachments_conversation", "conversation_id", "id"),
        Index("ix_desk_attachments_message", "channel", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("desk_conversations.id"))
    channel: Mapped[str] = mapped_column(String(32))
    thread: Mapped[str] = mapped_column(String(220))
    message_id: Mapped[str | None] = mapped_column(String(220))
    uploaded_by: Mapped[str] = mapped_column(String(16))  # agent | customer
    uploader_user_id: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(EncryptedText(NAME_PURPOSE))
    declared_type: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_key: Mapped[str] = mapped_column(EncryptedText(KEY_PURPOSE))
    # Loaded only when the file itself is read, never with the metadata.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
