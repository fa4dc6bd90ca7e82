"""Where processing stands: each group's position and lag, dead letters, the outbox
backlog and the workers alive (``omnicx status``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from omnicx.core import scheduler
from omnicx.core.eventlog.models import DeadLetter, EventRow
from omnicx.core.outbox import OutboxMessage
from omnicx.core.processing.groups import ProcessorGroup
from omnicx.core.processing.leases import RunningWorker, running_workers
from omnicx.core.processing.offsets import read_positions
from omnicx.core.time import as_datetime, utcnow


@dataclass(frozen=True)
class GroupStatus:
    name: str
    position: int
    lag_events: int
    lag_seconds: float
    dead_letters: int
    after: str | None


@dataclass(frozen=True)
class ProcessingStatus:
    head: int
    groups: list[GroupStatus]
    outbox_pending: int
    outbox_oldest_due: datetime | None
    outbox_dead: int
    scheduler_due: int
    scheduler_oldest_due: datetime | None
    scheduler_failed: int
    workers: list[RunningWorker]


def processing_status(session: Session, groups: Sequence[ProcessorGroup]) -> ProcessingStatus:
    """A snapshot, from reads only (no write lock)."""
    head = session.execute(text("SELECT max(seq) FROM events")).scalar() or 0
    now = utcnow()
    found = []
    for group in groups:
        names = group.processor_names
        position = min(p for p, _ in read_positions(session, names).values())
        lag = head - position
        # The oldest event this group has not processed yet: how long it has waited.
        oldest = (
            session.scalar(
                select(EventRow.received_at)
                .where(EventRow.seq > position)
                .order_by(EventRow.seq)
                .limit(1)
            )
            if lag
            else None
        )
        letters = session.scalar(
            select(func.count())
            .select_from(DeadLetter)
            .where(DeadLetter.processor.in_(names), DeadLetter.status == "open")
        )
        found.append(
            GroupStatus(
                name=group.name,
                position=position,
                lag_events=lag,
                lag_seconds=max(0.0, (now - as_datetime(oldest)).total_seconds())
                if oldest
                else 0.0,
                dead_letters=letters or 0,
                after=group.after.name if group.after else None,
            )
        )
    pending = session.execute(
        select(func.count(), func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == "pending"
        )
    ).one()
    dead = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "dead")
    )
    due, oldest_due = scheduler.due_backlog(session, now)
    return ProcessingStatus(
        head=head,
        groups=found,
        outbox_pending=pending[0] or 0,
        outbox_oldest_due=as_datetime(pending[1]) if pending[1] else None,
        outbox_dead=dead or 0,
        scheduler_due=due,
        scheduler_oldest_due=oldest_due,
        scheduler_failed=scheduler.status_counts(session).get("failed", 0),
        workers=running_workers(session),
    )
