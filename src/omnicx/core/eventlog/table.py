"""The embedded log: the ``events`` table itself."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omnicx.core.database import Database, RawStatements
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.codec import decode_payload, encode_payload
from omnicx.core.eventlog.models import EventRow
from omnicx.core.serialization import dumps
from omnicx.core.time import as_datetime

# Serialises appends on PostgreSQL so that sequence order equals commit order: a reader
# that has seen seq N can never later find a smaller seq appear (SQLite has one writer).
APPEND_LOCK_KEY = 7_300_001

# Woken after every append so that the embedded processors start at once, not on a poll.
appended = threading.Event()


def _rows(events: Sequence[LogEvent]) -> list[dict[str, Any]]:
    return [
        {
            "source_id": e.source_id,
            "message_id": e.message_id,
            "type": e.type,
            "name": e.name,
            "occurred_at": e.occurred_at,
            "received_at": e.received_at,
            "payload": dumps(e.payload),  # the column type encrypts it
        }
        for e in events
    ]


APPEND = (
    "INSERT INTO events (source_id, message_id, type, name, occurred_at, received_at, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source_id, message_id) DO NOTHING"
)


def append_rows(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """The log's append: ``(source_id, message_id, type, name, occurred_at, received_at,
    stored payload)`` rows (see ``codec``), a retried message id being a no-op."""
    raw = RawStatements(session)
    if not raw.sqlite:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})
    raw.many(
        APPEND,
        [(s, m, k, n, raw.time(o), raw.time(r), p) for s, m, k, n, o, r, p in rows],
    )


def insert_events(
    session: Session, events: Sequence[LogEvent], *, ordered: bool = True
) -> list[int]:
    """Insert events, skipping ``(source_id, message_id)`` already present.

    ``ordered`` serialises appends on PostgreSQL (needed when the table is the log that
    processors read by position; not when JetStream delivers). Returns the new seqs.
    """
    if not events:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        if ordered:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})
        stmt: Any = postgresql.insert(EventRow).on_conflict_do_nothing(
            index_elements=["source_id", "message_id"]
        )
    else:
        stmt = sqlite.insert(EventRow).on_conflict_do_nothing(
            index_elements=["source_id", "message_id"]
        )
    result = session.execute(stmt.returning(EventRow.seq), _rows(events))
    return [row[0] for row in result]


def row_to_event(row: Sequence[Any]) -> LogEvent:
    """A row of EVENT_COLUMNS as an event. Timestamps become aware UTC datetimes (SQLite
    hands back text or naive values; processors compare them with aware ones)."""
    seq, source_id, message_id, kind, name, occurred_at, received_at, payload = row
    return LogEvent(
        seq=seq,
        source_id=source_id,
        message_id=message_id,
        type=kind,
        name=name,
        occurred_at=as_datetime(occurred_at),
        received_at=as_datetime(received_at),
        payload=decode_payload(payload),
    )


EVENT_COLUMNS = (
    "SELECT seq, source_id, message_id, type, name, occurred_at, received_at, payload FROM events"
)


def read_events_after(session: Session, position: int, limit: int) -> list[LogEvent]:
    """The next events of the log after ``position``, in order (the pipeline's read)."""
    rows = RawStatements(session).select(
        EVENT_COLUMNS + " WHERE seq > ? ORDER BY seq LIMIT ?", (position, limit)
    )
    return [row_to_event(r) for r in rows]


def read_events(session: Session, seqs: Sequence[int]) -> list[LogEvent]:
    rows = RawStatements(session).select_in(EVENT_COLUMNS + " WHERE seq IN ({in})", list(seqs))
    return sorted((row_to_event(r) for r in rows), key=lambda e: e.seq or 0)


class TableEventLog:
    def __init__(self, database: Database):
        self.database = database

    def append_sync(self, events: Sequence[LogEvent]) -> None:
        # Serialise and encrypt outside the transaction: the write lock is held only for
        # the insert.
        rows = [
            (
                e.source_id,
                e.message_id,
                e.type,
                e.name,
                e.occurred_at,
                e.received_at,
                encode_payload(e.payload),
            )
            for e in events
        ]
        with self.database.write() as session:
            append_rows(session, rows)
        appended.set()

    async def append(self, events: Sequence[LogEvent]) -> None:
        await asyncio.to_thread(self.append_sync, events)

    async def close(self) -> None:
        return None
