"""Processor offsets: how far each processor has read the events table.

An offset row is advanced in the transaction that holds the processor's effects, and it
is the lock that serialises everything that writes the processor's state: its group's
batches, a replayed dead letter, a person's action the processor must see in order (an
unmerge takes the identity group's offset).

Every group reads and moves its offsets once or twice per batch, so with live traffic
(batches of one or two events) this bookkeeping is most of a batch's cost: it is done
with plain statements (``RawStatements``), a few tens of microseconds each, not through
the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements
from omnicx.core.time import utcnow

SELECT_OFFSETS = (
    "SELECT processor, position, replayed_through, fact_position FROM processor_offsets"
    " WHERE processor IN ({in})"
)
CREATE_OFFSET = (
    "INSERT INTO processor_offsets (processor, position, replayed_through, fact_position,"
    " updated_at) VALUES (?, 0, 0, 0, ?) ON CONFLICT (processor) DO NOTHING"
)
SAVE_OFFSET = (
    "UPDATE processor_offsets SET position = ?, replayed_through = ?, fact_position = ?,"
    " updated_at = ? WHERE processor = ?"
)


@dataclass
class Offset:
    """One processor's row: the last event it processed (``position``), where it had got
    to before its last replay (``replayed_through``) and the last fact it read."""

    processor: str
    position: int = 0
    replayed_through: int = 0
    fact_position: int = 0


def read_offsets(session: Session, names: Sequence[str]) -> dict[str, Offset]:
    """The named processors' offsets, without a lock (a processor that never ran: zeros)."""
    found = _select(RawStatements(session), names, lock=False)
    return {name: found.get(name) or Offset(name) for name in names}


def read_positions(session: Session, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(position, replayed_through) of each named processor; (0, 0) if it never ran."""
    return {n: (o.position, o.replayed_through) for n, o in read_offsets(session, names).items()}


def read_fact_position(session: Session, names: Sequence[str]) -> int:
    """The last fact every one of these processors has read (0 if one never ran)."""
    return min(o.fact_position for o in read_offsets(session, names).values())


def lock_offsets(session: Session, names: Sequence[str]) -> dict[str, Offset]:
    """The offsets of these processors, locked for this transaction (rows created if new).
    Changes to them are written by ``save_offsets``."""
    raw = RawStatements(session)
    found = _select(raw, names, lock=True)
    missing = [name for name in names if name not in found]
    if missing:
        now = raw.time(utcnow())
        raw.many(CREATE_OFFSET, [(name, now) for name in missing])
        found = _select(raw, names, lock=True)
    return {name: found[name] for name in names}


def save_offsets(session: Session, offsets: Iterable[Offset]) -> None:
    """Write offsets locked (and changed) in this transaction."""
    raw = RawStatements(session)
    now = raw.time(utcnow())
    raw.many(
        SAVE_OFFSET,
        [(o.position, o.replayed_through, o.fact_position, now, o.processor) for o in offsets],
    )


def _select(raw: RawStatements, names: Sequence[str], *, lock: bool) -> dict[str, Offset]:
    # PostgreSQL locks the rows; SQLite's write transaction (BEGIN IMMEDIATE) already
    # holds the database's only write lock. Sorted: two lockers never deadlock.
    wanted = sorted(set(names))
    sql = SELECT_OFFSETS + " ORDER BY processor"
    if lock and not raw.sqlite:
        sql += " FOR UPDATE"
    return {
        row[0]: Offset(row[0], int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))
        for row in raw.select_in(sql, wanted)
    }
