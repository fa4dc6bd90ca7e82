"""The embedded log: the ``events`` table itself."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omnicx.core.database import Database
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.models import EventRow
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import as_utc

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
            "payload": dumps(e.payload),
        }
        for e in events
    ]


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


def row_to_event(row: Any) -> LogEvent:
    # SQLite hands back naive datetimes; events fresh from ingest carry UTC. Processors
    # compare the two (e.g. a link's stored observed_at), so both must be aware.
    return LogEvent(
        seq=row.seq,
        source_id=row.source_id,
        message_id=row.message_id,
        type=row.type,
        name=row.name,
        occurred_at=as_utc(row.occurred_at),
        received_at=as_utc(row.received_at),
        payload=loads(row.payload),
    )


EVENT_COLUMNS = (
    EventRow.seq,
    EventRow.source_id,
    EventRow.message_id,
    EventRow.type,
    EventRow.name,
    EventRow.occurred_at,
    EventRow.received_at,
    EventRow.payload,
)


def read_events_after(session: Session, position: int, limit: int) -> list[LogEvent]:
    rows = session.execute(
        select(*EVENT_COLUMNS).where(EventRow.seq > position).order_by(EventRow.seq).limit(limit)
    )
    return [row_to_event(r) for r in rows]


def read_events(session: Session, seqs: Sequence[int]) -> list[LogEvent]:
    out: list[LogEvent] = []
    for start in range(0, len(seqs), 500):
        chunk = list(seqs[start : start + 500])
        rows = session.execute(select(*EVENT_COLUMNS).where(EventRow.seq.in_(chunk)))
        out.extend(row_to_event(r) for r in rows)
    out.sort(key=lambda e: e.seq or 0)
    return out


class TableEventLog:
    def __init__(self, database: Database):
        self.database = database

    def append_sync(self, events: Sequence[LogEvent]) -> None:
        with self.database.write() as session:
            insert_events(session, events)
        appended.set()

    async def append(self, events: Sequence[LogEvent]) -> None:
        await asyncio.to_thread(self.append_sync, events)

    async def close(self) -> None:
        return None
