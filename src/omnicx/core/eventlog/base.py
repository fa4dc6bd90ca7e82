"""The event record and the log interface."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from omnicx.core.settings import Settings


@dataclass(slots=True)
class LogEvent:
    """A canonical event. ``seq`` is set once the event is recorded in the events table."""

    source_id: int
    message_id: str
    type: str
    name: str | None
    occurred_at: datetime
    received_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    # The customer the event belongs to, filled in for the groups that follow identity.
    customer_id: int | None = None
    # What processors derived from the event before the write lock (see Processor.prepare).
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


# What a caller writes about the events it appends (a channel's nonce), in a write
# transaction of the database.
Record = Callable[[Session], None]


class EventLog(Protocol):
    """Makes events durable. ``append`` returns only once every event is durable."""

    async def append(self, events: Sequence[LogEvent]) -> None: ...

    async def append_recorded(self, events: Sequence[LogEvent], record: Record) -> None:
        """``append``, with ``record`` durable first: written in the transaction that
        appends the events (the table log: one commit), or in one committed just before
        them (JetStream). An exception from ``record`` appends nothing."""
        ...

    async def close(self) -> None: ...


def make_event_log(settings: Settings) -> EventLog:
    if settings.uses_nats:
        from omnicx.core.eventlog.jetstream import JetStreamEventLog

        return JetStreamEventLog(settings.event_log, settings.nats_stream)
    from omnicx.core.database import get_database
    from omnicx.core.eventlog.table import TableEventLog

    return TableEventLog(get_database(settings))
