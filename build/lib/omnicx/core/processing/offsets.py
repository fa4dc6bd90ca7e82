"""Processor offsets: how far each processor has read the events table.

An offset row is advanced in the transaction that holds the processor's effects, and it
is the lock that serialises everything that writes the processor's state: its group's
batches, a replayed dead letter, a person's action the processor must see in order (an
unmerge takes the identity group's offset).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.eventlog.models import ProcessorOffset
from omnicx.core.time import utcnow


def read_positions(session: Session, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(position, replayed_through) of each named processor; (0, 0) if it never ran."""
    rows = session.execute(
        select(
            ProcessorOffset.processor, ProcessorOffset.position, ProcessorOffset.replayed_through
        ).where(ProcessorOffset.processor.in_(names))
    )
    found = {name: (position, replayed or 0) for name, position, replayed in rows}
    return {name: found.get(name, (0, 0)) for name in names}


def lock_offsets(session: Session, names: Sequence[str]) -> dict[str, ProcessorOffset]:
    """The offset rows of these processors, locked for this transaction (created if new)."""
    rows = {
        row.processor: row
        for row in session.scalars(
            select(ProcessorOffset)
            .where(ProcessorOffset.processor.in_(names))
            .order_by(ProcessorOffset.processor)
            .with_for_update()
        )
    }
    for name in names:
        if name not in rows:
            rows[name] = ProcessorOffset(
                processor=name, position=0, replayed_through=0, fact_position=0, updated_at=utcnow()
            )
            session.add(rows[name])
    session.flush()
    return rows


def read_fact_position(session: Session, names: Sequence[str]) -> int:
    """The last fact every one of these processors has read (0 if one never ran)."""
    rows = dict(
        session.execute(
            select(ProcessorOffset.processor, ProcessorOffset.fact_position).where(
                ProcessorOffset.processor.in_(names)
            )
        ).all()
    )
    return min(rows.get(name, 0) or 0 for name in names)
