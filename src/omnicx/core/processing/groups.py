"""Processor groups: each follows the events table with offsets of its own.

The events table is the one ordered record in both modes (with JetStream, the stream is
only the durable road into it; see ``transport.py``). A group is a few processors that
share one transaction per batch; every group reads the table by ``seq`` on its own, so a
slow group (analytics) never holds a fast one (identity) back, a failing one dead-letters
only its own work, and a group added later starts at offset 0 and backfills.

A group may run *after* another: it never reads past that group's position, and an event
the upstream group dead-lettered is parked for it too (replayed after the upstream's).
Every group above identity runs after it, so each event it sees already carries its
customer (``ProcessorGroup.enrich``).

Ordering: a follower that has read up to ``seq`` N must never later find a smaller seq
appear. Appends therefore serialise on PostgreSQL (``eventlog.table.append_rows`` takes an
advisory lock held to commit), so sequence order is commit order; SQLite has one writer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from omnicx.core.database import Database, RawStatements
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.facts import FACT_ID, in_log_order, is_fact, read_facts
from omnicx.core.eventlog.table import appended, read_events_after, read_named_events
from omnicx.core.processing.leases import GroupLease
from omnicx.core.processing.offsets import (
    Offset,
    lock_offsets,
    read_offsets,
    save_offsets,
)
from omnicx.core.processing.processors import REPLAYED, Processor, apply_processor, dead_letter

log = logging.getLogger(__name__)

# Fills in, before a group processes a batch, what its upstream group derived about each
# event (the customer it belongs to). Runs in the batch's transaction.
Enricher = Callable[[Session, Sequence[LogEvent]], None]


@dataclass(frozen=True)
class ProcessorGroup:
    name: str
    processors: tuple[Processor, ...]
    after: ProcessorGroup | None = None
    enrich: Enricher | None = None
    # The facts (``eventlog.facts``) the group reacts to; None: every one.
    facts: frozenset[str] | None = None
    # The events (by name) the group's processors act on; None: every one. A group after
    # another reads only those and passes over the rest of the log a window at a time,
    # so a group that cares for a few events (the desk: messages) costs little per event.
    event_names: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.event_names is not None and self.after is None:
            raise ValueError("only a group that runs after another may read some events")

    @property
    def processor_names(self) -> list[str]:
        return [p.name for p in self.processors]


def is_replaying(offsets: Iterable[Offset]) -> bool:
    """Whether a processor is (re)processing events it had processed before a replay."""
    return any(o.replayed_through > 0 and o.position <= o.replayed_through for o in offsets)


def _unseen(event: LogEvent, offset: Offset) -> bool:
    """Whether this processor has still to see an event or fact of the batch."""
    if is_fact(event):
        return int(event.derived[FACT_ID]) > offset.fact_position
    return (event.seq or 0) > offset.position


def record_boundary(session: Session, processor: str, end: int) -> None:
    """Remember that a batch of ``processor`` ended at ``end`` (kept once)."""
    RawStatements(session).many(RECORD_BOUNDARY, [(processor, end)])


RECORD_BOUNDARY = (
    "INSERT INTO processor_batches (processor, end_seq) VALUES (?, ?)"
    " ON CONFLICT (processor, end_seq) DO NOTHING"
)
FIRST_BOUNDARY = (
    "SELECT min(end_seq) FROM processor_batches WHERE processor IN ({in}) AND end_seq > ?"
)
OPEN_DEAD_LETTERS = (
    "SELECT event_seq FROM dead_letters WHERE processor IN ({in}) AND status = 'open'"
    " AND event_seq BETWEEN ? AND ?"
)


class GroupRunner:
    """Runs one group over the events table, a batch per transaction."""

    def __init__(self, database: Database, group: ProcessorGroup, batch_size: int = 1000):
        self.database = database
        self.group = group
        self.batch_size = batch_size
        # The position every processor of the group has reached (for the idle check).
        self.position = 0

    def _offsets(self, session: Session) -> tuple[dict[str, Offset], int | None]:
        """This group's offsets, and the last seq it may read: its upstream's position
        (None: the log's end). One statement."""
        names = self.group.processor_names
        upstream = self.group.after.processor_names if self.group.after is not None else []
        offsets = read_offsets(session, [*names, *upstream])
        horizon = min(offsets[n].position for n in upstream) if upstream else None
        return {n: offsets[n] for n in names}, horizon

    def run_once(self) -> int:
        """Process the group's next batch. Returns how many events (and facts) it read."""
        attempts = 0
        while attempts < 3:
            with self.database.read() as session:
                offsets, horizon = self._offsets(session)
                low = min(o.position for o in offsets.values())
                events: list[LogEvent] = []
                step = None
                if horizon is None or horizon > low:
                    limit, upto = self.batch_size, horizon
                    replaying = is_replaying(offsets.values())
                    boundary = self._recorded_boundary(session, low) if replaying else None
                    if boundary is not None:
                        # The batch this group processed here before: the same events,
                        # whatever the batch size is now.
                        limit, upto = max(limit, boundary - low), min(boundary, horizon or boundary)
                    scanned = None
                    if self.group.event_names is not None and boundary is None and upto:
                        # A window of the log: its events the group acts on, the others
                        # passed over (the offset moves to the window's end).
                        scanned = min(upto, low + self.batch_size)
                        events = read_named_events(session, low, scanned, self.group.event_names)
                    else:
                        events = read_events_after(session, low, limit, upto=upto)
                    step = self._next_step(session, replaying, low, events, scanned)
                # Facts concern only groups after identity: none read on identity's path.
                facts: list[LogEvent] = []
                facts_low = facts_end = 0
                if self.group.after is not None:
                    facts_low = min(o.fact_position for o in offsets.values())
                    facts, facts_end = read_facts(
                        session,
                        facts_low,
                        step[1] if step else low,
                        self.batch_size,
                        self.group.facts,
                    )
            if step is None and facts_end == facts_low:
                self.position = low
                return 0
            batch, end, redo = step if step is not None else ([], low, False)
            for processor in self.group.processors:
                prepare = getattr(processor, "prepare", None)
                if prepare is not None and batch:
                    prepare(batch)
            batch = in_log_order(batch, facts)
            if not self._apply(low, (facts_low, facts_end), batch, end, redo):
                attempts += 1  # another runner moved first: read again
            elif batch or facts_end > facts_low:
                return max(len(batch), 1)
        return 0

    def _recorded_boundary(self, session: Session, low: int) -> int | None:
        """Where this group's batch starting after ``low`` ended when it first ran."""
        sensitive = [p.name for p in self.group.processors if getattr(p, "batch_sensitive", False)]
        if not sensitive:
            return None
        rows = RawStatements(session).select(
            FIRST_BOUNDARY.replace("{in}", ",".join("?" * len(sensitive))), [*sensitive, low]
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def _next_step(
        self,
        session: Session,
        replaying: bool,
        low: int,
        events: list[LogEvent],
        scanned: int | None = None,
    ) -> tuple[list[LogEvent], int, bool] | None:
        """The next batch: (events, the position after it, redo recorded actions first).
        ``scanned``: where a read of some events only (``event_names``) passed over to.

        While the group replays what it had processed before, a processor may have
        recorded actions at positions in the log (a person's unmerge, ``actions_between``):
        they are redone there, after the events up to that position and before the next.
        """
        end = scanned or ((events[-1].seq or low) if events else low)
        if not replaying:
            return (events, end, False) if end > low else None
        actions = sorted(
            {
                position
                for processor in self.group.processors
                if (between := getattr(processor, "actions_between", None)) is not None
                for position in between(session, low, end)
            }
        )
        redo = bool(actions) and actions[0] == low
        later = [a for a in actions if a > low]
        if later:
            events = [e for e in events if (e.seq or 0) <= later[0]]
            end = later[0]
        if not events and not redo and end == low:
            return None
        return events, end, redo

    def _apply(
        self,
        low: int,
        facts: tuple[int, int],
        batch: Sequence[LogEvent],
        end: int,
        redo: bool,
    ) -> bool:
        """Process a batch read at position ``low`` and move to ``end`` (and past the
        facts read, ``facts``: from, to); False if another runner moved first."""
        facts_low, facts_end = facts
        with self.database.write() as session:
            offsets = lock_offsets(session, self.group.processor_names)
            if min(o.position for o in offsets.values()) != low or (
                min(o.fact_position for o in offsets.values()) != facts_low
            ):
                return False
            if redo:
                for processor in self.group.processors:
                    redo_actions = getattr(processor, "redo_actions", None)
                    if redo_actions is not None:
                        redo_actions(session, low)
            events = [e for e in batch if not is_fact(e)]
            parked = self._park_upstream_failures(session, offsets, events) if events else set()
            ready = [e for e in batch if is_fact(e) or (e.seq or 0) not in parked]
            if self.group.enrich is not None and events:
                self.group.enrich(session, [e for e in ready if not is_fact(e)])
            for processor in self.group.processors:
                offset = offsets[processor.name]
                mine = [e for e in ready if _unseen(e, offset)]
                for event in mine:
                    event.derived[REPLAYED] = (event.seq or 0) <= offset.replayed_through
                if mine:
                    apply_processor(session, processor, mine)
                if mine and getattr(processor, "batch_sensitive", False):
                    record_boundary(session, processor.name, end)
                offset.position = max(offset.position, end)
                offset.fact_position = max(offset.fact_position, facts_end)
            save_offsets(session, offsets.values())
            self.position = end
            return True

    def _park_upstream_failures(
        self, session: Session, offsets: dict[str, Offset], events: Sequence[LogEvent]
    ) -> set[int]:
        """Events the upstream group failed on: dead-lettered here too, not processed.

        A customer-less event must not reach the desk as if it had none; once the upstream
        dead letter is fixed and replayed, this group's is replayed after it (id order).
        """
        if self.group.after is None:
            return set()
        upstream = self.group.after.processor_names
        rows = RawStatements(session).select(
            OPEN_DEAD_LETTERS.replace("{in}", ",".join("?" * len(upstream))),
            [*upstream, events[0].seq or 0, events[-1].seq or 0],
        )
        failed = {int(seq) for (seq,) in rows}
        for event in events:
            if (event.seq or 0) not in failed:
                continue
            for processor in self.group.processors:
                if (event.seq or 0) > offsets[processor.name].position:
                    dead_letter(
                        session,
                        processor.name,
                        event,
                        f"group {self.group.after.name!r} failed on this event; "
                        "replay its dead letter first",
                    )
        return failed

    def run_until_idle(self, progress: Callable[[int], None] | None = None) -> int:
        total = 0
        while (n := self.run_once()) > 0:
            total += n
            if progress is not None:
                progress(n)
        return total

    def has_pending(self) -> bool:
        """Whether there is something past what this runner last processed: a cheap read
        (no write lock) that an idle runner polls before it opens a write transaction."""
        with self.database.read() as session:
            offsets, horizon = self._offsets(session)
            if horizon is None:
                horizon = session.execute(text("SELECT max(seq) FROM events")).scalar() or 0
            if horizon > self.position:
                return True
            if self.group.after is None:
                return False
            newest = session.execute(text("SELECT max(id) FROM facts")).scalar() or 0
            return bool(newest > min(o.fact_position for o in offsets.values()))

    def run_forever(self, stop: threading.Event, idle_wait: float = 0.05) -> None:
        """Follow the log while this process holds the group's lease; when idle, wait for
        an append in this process or poll. Another worker's runner stands by meanwhile."""
        lease = GroupLease(self.database, self.group.name)
        idle = False
        try:
            while not stop.is_set():
                try:
                    if not lease.hold():
                        stop.wait(lease.retry_seconds)
                        continue
                    if idle and not self.has_pending():
                        appended.wait(idle_wait)
                        appended.clear()  # a runner that misses a wake-up polls anyway
                        continue
                    idle = self.run_once() == 0
                except Exception:
                    log.exception("group %s: batch failed; retrying", self.group.name)
                    idle = False
                    lease.release()
                    stop.wait(1.0)
        finally:
            lease.release()


class Pipeline:
    """Every group, in order: what a replay, an import or a test runs to completion in one
    process. Workers run each group's ``GroupRunner.run_forever`` on its own instead."""

    def __init__(
        self, database: Database, groups: Sequence[ProcessorGroup], batch_size: int = 1000
    ):
        self.database = database
        self.runners = [GroupRunner(database, g, batch_size) for g in groups]

    def run_until_idle(self) -> int:
        """Run every group until none has work, a batch of each in turn (as their threads
        do in a server: a follower reads what its upstream just read, while the opened
        payloads are still in ``recent_payloads``). Returns how many events the first
        group processed (the others follow those same events)."""
        total = 0
        while True:
            moved = [runner.run_once() for runner in self.runners]
            total += moved[0]
            if not any(moved):
                return total
