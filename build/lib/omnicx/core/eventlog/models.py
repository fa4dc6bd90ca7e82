"""Tables of the log, processor progress and the dead-letter store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId
from omnicx.core.eventlog.codec import PURPOSE as PAYLOAD_PURPOSE


class EventRow(Base):
    """One accepted event, as canonical JSON. Append-only."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source_id", "message_id", name="uq_events_source_message"),
        Index("ix_events_occurred_at", "occurred_at"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Canonical JSON, encrypted: ORM reads and writes see the JSON text, raw statements
    # use ``codec``.
    payload: Mapped[str] = mapped_column(EncryptedText(PAYLOAD_PURPOSE))
    # The JetStream stream sequence of the message, so an erasure can delete it there too.
    log_seq: Mapped[int | None] = mapped_column(BigId)


class ProcessorOffset(Base):
    """How far a processor has read the table log; advanced with its effects.

    ``replayed_through`` is where the processor had got to before its last replay: events
    up to there are processed again to rebuild state, but what already left the system
    (audit entries, messages) is not produced a second time.
    """

    __tablename__ = "processor_offsets"

    processor: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigId, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replayed_through: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    # The last fact (``eventlog.facts``) a processor after identity has read.
    fact_position: Mapped[int] = mapped_column(BigId, default=0, server_default="0")


class ProcessorBatch(Base):
    """Where a batch of a batch-sensitive processor ended (see ``Processor`` in
    ``processing.processors``): a replay cuts its batches at the same places."""

    __tablename__ = "processor_batches"

    processor: Mapped[str] = mapped_column(String(64), primary_key=True)
    end_seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)


class WorkerPresence(Base):
    """A running worker process, seen every few seconds: what ``omnicx status`` lists and
    what a replay checks before it rewinds the groups those workers would race."""

    __tablename__ = "worker_presence"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    # Comma-separated names of the groups the worker runs (it may lead or stand by).
    groups: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class DeadLetter(Base):
    """An event a processor could not handle, with the reason; replayable after a fix."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    processor: Mapped[str] = mapped_column(String(64))
    event_seq: Mapped[int] = mapped_column(BigId)
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
