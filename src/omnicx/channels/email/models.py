"""Email's own tables: the Message-IDs of each mailbox's mail (threading), each
thread's reply context (who to answer, the subject, the references) and how far IMAP
polling has read each mailbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base

THREAD_PURPOSE = "email_threads.context"


class EmailMessage(Base):
    """A mail of the mailbox, in or out, by the SHA-256 of its Message-ID: a mail that
    names it in In-Reply-To or References joins its thread."""

    __tablename__ = "email_messages"

    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    message_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread: Mapped[str] = mapped_column(String(200))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EmailThread(Base):
    """What a reply on the thread needs: the customer's address, the subject and the
    Message-IDs it answers (``In-Reply-To``, ``References``), encrypted (personal data)."""

    __tablename__ = "email_threads"
    __table_args__ = (Index("ix_email_threads_address", "address_hash"),)

    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    thread: Mapped[str] = mapped_column(String(200), primary_key=True)
    # JSON {"address", "name", "subject", "references": [...]}.
    context: Mapped[str] = mapped_column(EncryptedText(THREAD_PURPOSE))
    # The address's blind index (as identity keeps it): a person's threads are found by
    # it for their export and erasure.
    address_hash: Mapped[bytes] = mapped_column(LargeBinary(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ImapPosition(Base):
    """How far IMAP polling has read a mailbox: the folder's UIDVALIDITY and the last UID
    taken. A changed UIDVALIDITY means the UIDs were renumbered: read again (the
    Message-IDs make what was already taken a no-op)."""

    __tablename__ = "email_imap_positions"

    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
