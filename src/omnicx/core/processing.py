"""Processors: idempotent consumers of the event log.

A processor turns a batch of events into state, inside the caller's transaction. The
runner records how far each processor got in that same transaction, so a crash before
commit replays the batch and a crash after commit skips it: never lost, never doubled.
An event a processor cannot handle is moved to the dead-letter store with the reason;
the rest of the batch goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from omnicx.core.database import Database, table_of
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.models import DeadLetter, EventRow, ProcessorOffset
from omnicx.core.eventlog.table import appended, insert_events, read_events, read_events_after
from omnicx.core.time import utcnow

if TYPE_CHECKING:
    from omnicx.core.eventlog.jetstream import JetStreamConsumer

log = logging.getLogger(__name__)

# SQLSTATE class 40 (transaction rollback): serialization failure, deadlock detected.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
# Attempts of one JetStream batch before its messages go back to the stream, and the
# mean pause before the next attempt (times the attempt number, jittered).
BATCH_ATTEMPTS = 5
RETRY_PAUSE_SECONDS = 0.1
# Where a delivered event's JetStream stream sequence travels (``LogEvent.derived``).
LOG_SEQ = "jetstream.stream_seq"
# Set in ``LogEvent.derived`` by a processor that redacted the event's stored payload:
# the copy in an external log must go too.
DROP_FROM_LOG = "log.drop"


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


class Processor(Protocol):
    name: str

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        """Apply the events (in seq order). Must not commit."""

    # Optional: ``prepare(events)`` derives what needs no database (parsing, normalising)
    # into ``event.derived`` before the write transaction, so that SQLite's single write
    # lock is held only for the work that needs it. ``process`` must still work without it.

    def reset(self, session: Session) -> None:
        """Delete the state this processor derives, before a replay from the start."""


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
            raise_or_dead_letter(session, processor, events[0])
            return 1
    failures = 0
    for event in events:
        try:
            with session.begin_nested():
                processor.process(session, [event])
        except Exception as exc:
            if is_transient(exc):
                raise
            raise_or_dead_letter(session, processor, event)
            failures += 1
    return failures


def raise_or_dead_letter(session: Session, processor: Processor, event: LogEvent) -> None:
    import traceback

    reason = traceback.format_exc(limit=6)
    log.warning("processor %s failed on event %s; dead-lettered", processor.name, event.seq)
    session.add(
        DeadLetter(
            processor=processor.name,
            event_seq=event.seq,
            reason=reason[-4000:],
            attempts=1,
            status="open",
            created_at=utcnow(),
        )
    )


def _offsets(session: Session, names: Sequence[str]) -> dict[str, ProcessorOffset]:
    rows = {
        row.processor: row
        for row in session.scalars(
            select(ProcessorOffset).where(ProcessorOffset.processor.in_(names)).with_for_update()
        )
    }
    for name in names:
        if name not in rows:
            rows[name] = ProcessorOffset(processor=name, position=0, updated_at=utcnow())
            session.add(rows[name])
    session.flush()
    return rows


class Pipeline:
    """The processors that every event passes through, in order."""

    def __init__(self, database: Database, processors: Sequence[Processor], batch_size: int = 1000):
        self.database = database
        self.processors = list(processors)
        self.batch_size = batch_size
        # The log position every processor has reached (for the idle check).
        self.position = 0

    def run_once(self) -> int:
        """Process the next batch of the table log. Returns how many events it read."""
        names = [p.name for p in self.processors]
        for _ in range(3):
            with self.database.read() as session:
                rows = session.execute(
                    select(ProcessorOffset.processor, ProcessorOffset.position).where(
                        ProcessorOffset.processor.in_(names)
                    )
                )
                positions = {name: position for name, position in rows}
                low = min(positions.get(name, 0) for name in names)
                events = read_events_after(session, low, self.batch_size)
            if not events:
                self.position = low
                return 0
            for processor in self.processors:
                prepare = getattr(processor, "prepare", None)
                if prepare is not None:
                    prepare(events)
            done = self._apply(names, low, events)
            if done:
                return done
        return 0

    def _apply(self, names: Sequence[str], low: int, events: Sequence[LogEvent]) -> int:
        """Process a batch read at position ``low``; 0 if another pipeline moved first."""
        with self.database.write() as session:
            offsets = _offsets(session, names)
            if min(o.position for o in offsets.values()) != low:
                return 0
            last = events[-1].seq or 0
            for processor in self.processors:
                offset = offsets[processor.name]
                mine = [e for e in events if (e.seq or 0) > offset.position]
                if mine:
                    apply_processor(session, processor, mine)
                offset.position = last
                offset.updated_at = utcnow()
            self.position = last
            return len(events)

    def reset_state(self) -> None:
        """Delete every processor's derived state and rewind it to the start of the log."""
        with self.database.write() as session:
            for processor in self.processors:
                processor.reset(session)
            names = [p.name for p in self.processors]
            session.execute(
                update(ProcessorOffset)
                .where(ProcessorOffset.processor.in_(names))
                .values(position=0)
            )
            # Their events are processed again; a failure is dead-lettered anew.
            session.execute(
                delete(DeadLetter).where(
                    DeadLetter.processor.in_(names), DeadLetter.status == "open"
                )
            )

    def run_until_idle(self) -> int:
        total = 0
        while (n := self.run_once()) > 0:
            total += n
        return total

    def has_pending(self) -> bool:
        """Whether the log holds events past what this pipeline last processed.

        A cheap read (no write lock): an idle pipeline polls with it, and only opens a
        write transaction when there is work.
        """
        with self.database.read() as session:
            top = session.execute(text("SELECT max(seq) FROM events")).scalar()
        return (top or 0) > self.position

    def run_forever(self, stop: threading.Event, idle_wait: float = 0.05) -> None:
        """Drain the table log; when idle, wait for an append in this process or poll."""
        idle = False
        while not stop.is_set():
            try:
                if idle and not self.has_pending():
                    appended.wait(idle_wait)
                    appended.clear()
                    continue
                idle = self.run_once() == 0
            except Exception:
                log.exception("pipeline batch failed; retrying")
                idle = False
                stop.wait(1.0)

    def process_new(self, session: Session, events: Sequence[LogEvent]) -> list[LogEvent]:
        """Record events delivered by an external log and process the ones not seen before."""
        new_seqs = insert_events(session, events, ordered=False)
        if not new_seqs:
            return []
        recorded = read_events(session, new_seqs)
        record_log_seqs(session, events, recorded)
        for processor in self.processors:
            apply_processor(session, processor, recorded)
        return recorded

    async def consume_jetstream(self, url: str, stream: str, stop: asyncio.Event) -> None:
        """Worker loop for the JetStream log; acks a batch only after its commit.

        A batch that cannot be committed is not acked: it is handed back (nak) and
        redelivered, and the loop goes on. A crash leaves it un-acked; JetStream
        redelivers it after the ack wait and the events table's unique key makes the
        part that was committed a no-op.
        """
        from omnicx.core.eventlog.jetstream import JetStreamConsumer

        consumer = JetStreamConsumer(url, stream)
        try:
            while not stop.is_set():
                try:
                    delivered = await consumer.fetch(self.batch_size, timeout=0.5)
                except Exception:
                    log.exception("fetching from the event log failed; reconnecting")
                    await consumer.close()
                    await _wait(stop, 1.0)
                    continue
                if not delivered:
                    continue
                events = [event for event, _ in delivered]
                for event, message in delivered:
                    event.derived[LOG_SEQ] = message.metadata.sequence.stream
                try:
                    recorded = await asyncio.to_thread(self._record_and_process, events)
                except Exception:
                    log.exception("a batch of %s events failed; handing it back", len(events))
                    try:
                        for _, message in delivered:
                            await message.nak(delay=1.0)
                    except Exception:
                        # Not acked either way: redelivered after the ack wait.
                        await consumer.close()
                    await _wait(stop, 1.0)
                    continue
                try:
                    for _, message in delivered:
                        await message.ack()
                except Exception:
                    # Committed but not acked: redelivered later, and then a no-op.
                    log.exception("acking a processed batch failed; reconnecting")
                    await consumer.close()
                await _drop_from_stream(consumer, recorded)
        finally:
            await consumer.close()

    def _record_and_process(self, events: Sequence[LogEvent]) -> list[LogEvent]:
        """Record and process one delivered batch in one transaction, retried when workers
        collide (deadlock, serialization failure): a bounded number of times."""
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            try:
                with self.database.write() as session:
                    recorded = self.process_new(session, events)
                return recorded
            except DBAPIError as exc:
                if not is_transient(exc) or attempt == BATCH_ATTEMPTS:
                    raise
                log.warning(
                    "batch attempt %s of %s failed (%s); retrying",
                    attempt,
                    BATCH_ATTEMPTS,
                    str(exc.orig).splitlines()[0] if exc.orig else exc,
                )
                time.sleep(random.uniform(0.5, 1.5) * RETRY_PAUSE_SECONDS * attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")


def record_log_seqs(
    session: Session, delivered: Sequence[LogEvent], recorded: Sequence[LogEvent]
) -> None:
    """Keep each new event's JetStream stream sequence, so that an erasure can delete
    the stream's copy too (``events.log_seq``)."""
    by_id = {
        (e.source_id, e.message_id): e.derived[LOG_SEQ] for e in delivered if LOG_SEQ in e.derived
    }
    rows = [
        {"s": by_id[key], "q": e.seq}
        for e in recorded
        if (key := (e.source_id, e.message_id)) in by_id
    ]
    for e in recorded:
        if (e.source_id, e.message_id) in by_id:
            e.derived[LOG_SEQ] = by_id[(e.source_id, e.message_id)]
    if rows:
        table = table_of(EventRow)
        session.execute(
            update(table).where(table.c.seq == bindparam("q")).values(log_seq=bindparam("s")),
            rows,
        )


async def _drop_from_stream(consumer: JetStreamConsumer, recorded: Sequence[LogEvent]) -> None:
    """Delete the stream's copy of events a processor redacted (an erased person's
    identifiers came back): the stored row no longer holds their data, nor should the
    stream. A failure is logged; the message then stays until the stream drops it."""
    sequences = [e.derived[LOG_SEQ] for e in recorded or () if e.derived.get(DROP_FROM_LOG)]
    if not sequences:
        return
    try:
        await consumer.delete(sequences)
    except Exception:
        log.exception("deleting %s redacted events from the stream failed", len(sequences))


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def replay_dead_letter(session: Session, letter: DeadLetter, processor: Processor) -> bool:
    """Run the processor again on a dead-lettered event. True if it now succeeds."""
    events = read_events(session, [letter.event_seq])
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
