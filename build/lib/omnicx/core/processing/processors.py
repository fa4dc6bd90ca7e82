"""Processors: idempotent consumers of the event log, and their dead letters.

A processor turns a batch of events into state, inside the caller's transaction. Its
group's runner (``groups.py``) records how far each processor got in that same
transaction, so a crash before commit replays the batch and a crash after commit skips
it: never lost, never doubled. An event a processor cannot handle is moved to the
dead-letter store with the reason; the rest of the batch goes on.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.models import DeadLetter
from omnicx.core.eventlog.table import read_events
from omnicx.core.processing.offsets import lock_offsets
from omnicx.core.time import utcnow

log = logging.getLogger(__name__)

# SQLSTATE class 40 (transaction rollback): serialization failure, deadlock detected.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
# Set in ``LogEvent.derived`` by the runner for an event its group had already processed
# before the last replay: state is rebuilt, but what already left the system (an audit
# entry for an automatic merge, a message to a customer) must not be produced again.
REPLAYED = "processing.replayed"


def is_transient(exc: BaseException) -> bool:
    """A database failure that says nothing about the event: retry the whole transaction.

    Deadlocks and serialization failures between workers, a dropped connection, SQLite's
    busy lock. Dead-lettering an event for one of these would lose it for no reason.
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    message = str(orig).lower()
    return "database is locked" in message or "database is busy" in message


def is_replayed(event: LogEvent) -> bool:
    """Whether this event was processed before the last replay of its group."""
    return bool(event.derived.get(REPLAYED))


class Processor(Protocol):
    name: str

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        """Apply the events (in seq order). Must not commit."""

    # Optional: ``prepare(events)`` derives what needs no database (parsing, normalising)
    # into ``event.derived`` before the write transaction, so that SQLite's single write
    # lock is held only for the work that needs it. ``process`` must still work without it.

    def reset(self, session: Session) -> None:
        """Delete the state this processor derives, before a replay from the start."""

    # Optional: ``batch_sensitive = True`` for a processor whose results (beyond the state
    # they converge to: ids, history) depend on where its batches end. The runner records
    # each of its batches' ends, and a replay cuts its batches at the same places.
    #
    # Optional, for actions people take outside the log that a replay must redo where they
    # happened (an unmerge): ``actions_between(session, after, upto)`` lists the log
    # positions in [after, upto] where some still wait to be redone, and
    # ``redo_actions(session, position)`` redoes those recorded at ``position``.


def apply_processor(session: Session, processor: Processor, events: Sequence[LogEvent]) -> int:
    """Run one processor over events; dead-letter those that fail. Returns failures.

    A transient database error (see ``is_transient``) is raised instead: the caller's
    transaction is then rolled back and retried as a whole.
    """
    try:
        with session.begin_nested():
            processor.process(session, events)
        return 0
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(events) == 1:
            dead_letter(session, processor.name, events[0], traceback.format_exc(limit=6))
            return 1
    failures = 0
    for event in events:
        try:
            with session.begin_nested():
                processor.process(session, [event])
        except Exception as exc:
            if is_transient(exc):
                raise
            dead_letter(session, processor.name, event, traceback.format_exc(limit=6))
            failures += 1
    return failures


def dead_letter(session: Session, processor: str, event: LogEvent, reason: str) -> None:
    """Park an event a processor cannot handle, with the reason, until it is replayed."""
    log.warning("processor %s failed on event %s; dead-lettered", processor, event.seq)
    session.add(
        DeadLetter(
            processor=processor,
            event_seq=event.seq,
            reason=reason[-4000:],
            attempts=1,
            status="open",
            created_at=utcnow(),
        )
    )


def replay_dead_letter(
    session: Session,
    letter: DeadLetter,
    processor: Processor,
    enrich: Callable[[Session, Sequence[LogEvent]], None] | None = None,
) -> bool:
    """Run the processor again on a dead-lettered event (given what its group's upstream
    derived, ``enrich``). True if it now succeeds.

    Holds the processor's offset row for the transaction, so the replay never runs beside
    one of its group's batches.
    """
    lock_offsets(session, [processor.name])
    events = read_events(session, [letter.event_seq])
    if enrich is not None:
        enrich(session, events)
    try:
        with session.begin_nested():
            processor.process(session, events)
    except Exception as exc:
        if is_transient(exc):
            raise  # not the event's fault: the caller's transaction retries or fails whole
        letter.attempts += 1
        letter.reason = f"{type(exc).__name__}: {exc}"[-4000:]
        return False
    letter.status = "resolved"
    letter.resolved_at = utcnow()
    return True
