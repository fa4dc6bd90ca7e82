"""Small builders used across test modules (import from tests.factories)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from omnicx.core.database import Database
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.table import TableEventLog
from omnicx.core.settings import get_settings
from omnicx.governance.models import ApiToken
from omnicx.governance.service import Principal, create_token
from omnicx.ingest.sources import create_source
from omnicx.ingest.tracking import to_log_event
from omnicx.runtime.processors import make_pipeline

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
_counter = itertools.count(1)


def make_source(db: Database, name: str | None = None) -> tuple[int, str]:
    """A new source: (id, write key)."""
    with db.write() as session:
        source, key = create_source(session, name or f"src-{next(_counter)}")
        return source.id, key


def make_token(db: Database, role: str = "admin") -> str:
    with db.write() as session:
        return create_token(session, "test", role)


def token_actor(db: Database, name: str = "test") -> str:
    """How the audit log names the one token called ``name`` (its id is part of it)."""
    with db.read() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == name)).one()
        return Principal(kind="token", id=row.id, name=row.name, role=row.role).actor


def call(kind: str = "track", minutes: int = 0, **fields: Any) -> dict[str, Any]:
    """A Segment call with a unique messageId and a timestamp ``minutes`` after BASE_TIME."""
    body: dict[str, Any] = {
        "type": kind,
        "messageId": f"m-{next(_counter)}",
        "timestamp": (BASE_TIME + timedelta(minutes=minutes)).isoformat(),
    }
    if kind == "track":
        body["event"] = "Test Event"
    body.update(fields)
    return body


def append_calls(db: Database, source_id: int, calls: Sequence[dict[str, Any]]) -> list[LogEvent]:
    """Validate and append calls straight into the table log (no HTTP)."""
    received = datetime.now(UTC)
    events = [
        to_log_event(source_id, c, event_type=None, prefix="", received_at=received, sent_at=None)
        for c in calls
    ]
    TableEventLog(db).append_sync(events)
    return events


def process(db: Database) -> int:
    """Run the pipeline until the table log is drained."""
    return make_pipeline(db, get_settings()).run_until_idle()
