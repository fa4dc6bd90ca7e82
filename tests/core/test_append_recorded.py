"""``EventLog.append_recorded`` on the table log (SQLite and PostgreSQL): what the caller
records and the events commit together, and a record that fails appends nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from omnicx.core.eventlog.models import EventRow
from omnicx.core.eventlog.table import TableEventLog
from omnicx.core.outbox import OutboxMessage, enqueue
from omnicx.ingest.tracking import to_log_event
from tests.factories import call, make_source


def _event(db, message_id: str):
    source_id, _ = make_source(db)
    raw = call("track", messageId=message_id, anonymousId="a-1", event="Message Received")
    return to_log_event(
        source_id, raw, event_type=None, prefix="", received_at=datetime.now(UTC), sent_at=None
    )


def _counts(db) -> tuple[int, int]:
    with db.read() as session:
        events = session.scalar(select(func.count()).select_from(EventRow))
        queued = session.scalar(select(func.count()).select_from(OutboxMessage))
    return int(events or 0), int(queued or 0)


def test_the_record_and_the_events_commit_together(db):
    log = TableEventLog(db)
    asyncio.run(
        log.append_recorded(
            [_event(db, "m-1")], lambda session: enqueue(session, "webhook", {"url": "x"})
        )
    )
    assert _counts(db) == (1, 1)

    def refuse(session) -> None:
        enqueue(session, "webhook", {"url": "y"})
        raise PermissionError("a replayed signature")

    with pytest.raises(PermissionError):
        asyncio.run(log.append_recorded([_event(db, "m-2")], refuse))
    assert _counts(db) == (1, 1)  # neither the record nor the event
