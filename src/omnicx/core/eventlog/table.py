"""The embedded log: the ``events`` table itself."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from omnicx.core.database import Database, RawStatements
from omnicx.core.eventlog.base import LogEvent, Record
from omnicx.core.eventlog.codec import decode_payload, encode_payload
from omnicx.core.time import as_datetime

# Serialises appends on PostgreSQL so that sequence order equals commit order: a reader
# that has seen seq N can never later find a smaller seq appear (SQLite has one writer).
APPEND_LOCK_KEY = 7_300_001

# Woken after every append so that the embedded processors start at once, not on a poll.
appended = threading.Event()


APPEND = (
    "INSERT INTO events"
    " (source_id, message_id, type, name, occurred_at, received_at, payload, log_seq)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source_id, message_id) DO NOTHING"
)

# A row as ``append_rows`` takes it: (source_id, message_id, type, name, occurred_at,
# received_at, stored payload, JetStream stream sequence or None).
StoredRow = tuple[int, str, str, str | None, Any, Any, str, int | None]


def stored_rows(events: Sequence[LogEvent]) -> list[StoredRow]:
    """Events as rows to append: serialised and encrypted here, before any lock is taken.
    (Rows delivered by JetStream come with their stream sequence: ``jetstream.stored_row``.)"""
    return [
        (
            e.source_id,
            e.message_id,
            e.type,
            e.name,
            e.occurred_at,
            e.received_at,
            encode_payload(e.payload),
            None,
        )
        for e in events
    ]


def append_rows(session: Session, rows: Sequence[StoredRow]) -> None:
    """The log's one append path (API on the table log, JetStream workers, imports): a
    retried message id is a no-op. On PostgreSQL it first takes the append lock, held to
    commit, so that sequence order is commit order and no follower skips a row."""
    raw = RawStatements(session)
    if not raw.sqlite:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})
    raw.many(
        APPEND,
        [(s, m, k, n, raw.time(o), raw.time(r), p, q) for s, m, k, n, o, r, p, q in rows],
    )


class RecentPayloads:
    """Opened payloads of the events this process read last, by seq.

    Each processor group reads the same events a moment after the one before it; opening
    (decrypting, parsing) a payload once instead of once per group is most of the cost
    of a follower's read. An entry is used only if the stored value is still the one it
    was opened from: a payload an erasure redacted since is opened afresh. Processors
    treat payloads as read-only.
    """

    def __init__(self, size: int = 8192):
        self.size = size
        self.entries: OrderedDict[int, tuple[str, dict[str, Any]]] = OrderedDict()
        self.lock = threading.Lock()

    def open(self, seq: int, stored: str) -> dict[str, Any]:
        with self.lock:
            known = self.entries.get(seq)
        if known is not None and known[0] == stored:
            return known[1]
        payload = decode_payload(stored)
        with self.lock:
            self.entries[seq] = (stored, payload)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return payload


recent_payloads = RecentPayloads()


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
        payload=recent_payloads.open(seq, payload),
    )


EVENT_COLUMNS = (
    "SELECT seq, source_id, message_id, type, name, occurred_at, received_at, payload FROM events"
)


def read_events_after(
    session: Session, position: int, limit: int, upto: int | None = None
) -> list[LogEvent]:
    """The next events of the log after ``position`` (and not past ``upto``), in order."""
    raw = RawStatements(session)
    if upto is None:
        rows = raw.select(EVENT_COLUMNS + " WHERE seq > ? ORDER BY seq LIMIT ?", (position, limit))
    else:
        rows = raw.select(
            EVENT_COLUMNS + " WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (position, upto, limit),
        )
    return [row_to_event(r) for r in rows]


def read_named_events(
    session: Session, position: int, upto: int, names: Collection[str]
) -> list[LogEvent]:
    """The events named ``names`` after ``position`` and not past ``upto``, in order (the
    others are not read at all: their payloads stay on disk)."""
    wanted = sorted(names)
    rows = RawStatements(session).select(
        EVENT_COLUMNS
        + f" WHERE seq > ? AND seq <= ? AND name IN ({','.join('?' * len(wanted))}) ORDER BY seq",
        (position, upto, *wanted),
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
        rows = stored_rows(events)
        with self.database.write() as session:
            append_rows(session, rows)
        appended.set()

    async def append(self, events: Sequence[LogEvent]) -> None:
        await asyncio.to_thread(self.append_sync, events)

    def _append_recorded(self, events: Sequence[LogEvent], record: Record) -> None:
        rows = stored_rows(events)
        with self.database.write() as session:
            record(session)
            append_rows(session, rows)
        appended.set()

    async def append_recorded(self, events: Sequence[LogEvent], record: Record) -> None:
        # One write transaction, not two: on SQLite each one waits for the write lock.
        await asyncio.to_thread(self._append_recorded, events, record)

    async def close(self) -> None:
        return None
