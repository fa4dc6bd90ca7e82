"""Retention: each kind of data is kept for its configured period, then deleted.

Periods come from ``OMNICX_RETENTION`` (days per kind, null = keep; see
``core.settings.RETENTION_KINDS``). The job deletes in small transactions so that
ingestion is never blocked for long, records a ``retention_runs`` row with the report
(per kind: period, cutoff, rows removed) and an audit entry ``retention.run``. A dry run
counts what would go and removes nothing.

Events are deleted with what derives from them row by row in higher domains (the
customer timeline): those domains register an ``EventDependent`` in ``event_dependents``
(``runtime.privacy`` does the wiring). Customers' counters and first/last seen are kept.
Only events every processor has already handled are removed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Select,
    and_,
    delete,
    func,
    not_,
    select,
    text,
)
from sqlalchemy.orm import Session

from omnicx.core.database import Database
from omnicx.core.errors import ServiceUnavailable
from omnicx.core.eventlog.models import DeadLetter, EventRow, ProcessorOffset
from omnicx.core.outbox import OutboxMessage
from omnicx.core.serialization import dumps, loads
from omnicx.core.settings import Settings
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import audit
from omnicx.governance.models import RetentionRun
from omnicx.governance.service import Principal

BATCH = 2000
# Serialises retention runs across workers on PostgreSQL (SQLite has one writer).
RETENTION_LOCK_KEY = 7_300_002

# Rows derived from events, deleted with them: (session, event seqs) -> rows deleted.
EventDependent = Callable[[Session, Sequence[int]], int]
event_dependents: dict[str, EventDependent] = {}

ORDER_EVENT = and_(EventRow.type == "track", EventRow.name.like("Order %"))
EVENT_KINDS: dict[str, ColumnElement[bool]] = {
    "behaviour_events": and_(
        EventRow.type.in_(("track", "page", "screen")),
        not_(and_(EventRow.name.is_not(None), ORDER_EVENT)),
    ),
    "order_events": ORDER_EVENT,
    "identify_events": EventRow.type.in_(("identify", "alias", "group")),
}
FINISHED_OUTBOX = ("sent", "dead", "refused")


@dataclass(frozen=True)
class KindReport:
    days: int | None
    cutoff: datetime | None = None
    removed: int = 0
    dependents: dict[str, int] | None = None

    def as_dict(self, dry_run: bool) -> dict[str, Any]:
        if self.days is None:
            return {"days": None, "kept": True}
        out: dict[str, Any] = {
            "days": self.days,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "would_remove" if dry_run else "removed": self.removed,
        }
        if self.dependents:
            out["also_removed"] = self.dependents
        return out


def _processed_upto(session: Session) -> int:
    """The highest seq every processor has handled (0 before any has run)."""
    return int(session.scalar(select(func.min(ProcessorOffset.position))) or 0)


def _expired_events(
    kind: ColumnElement[bool], cutoff: datetime, upto: int, after: int = 0
) -> Select[int]:
    """Seqs of this kind's events older than ``cutoff``, in (``after``, ``upto``]."""
    return select(EventRow.seq).where(
        kind, EventRow.occurred_at < cutoff, EventRow.seq > after, EventRow.seq <= upto
    )


def _purge_events(
    database: Database, kind: ColumnElement[bool], cutoff: datetime, dry_run: bool
) -> tuple[int, dict[str, int]]:
    dependents = dict.fromkeys(event_dependents, 0)
    with database.read() as session:
        upto = _processed_upto(session)
        if dry_run:
            counted = select(func.count()).select_from(
                _expired_events(kind, cutoff, upto).subquery()
            )
            return int(session.scalar(counted) or 0), dependents
    removed, last = 0, 0
    while True:
        # Each batch is picked in a read session, going on from the last one's seq; the
        # write lock is held only for the deletes.
        with database.read() as session:
            batch = _expired_events(kind, cutoff, upto, last).order_by(EventRow.seq).limit(BATCH)
            seqs = list(session.scalars(batch))
        if not seqs:
            return removed, dependents
        last = seqs[-1]
        with database.write() as session:
            for name, dependent in event_dependents.items():
                dependents[name] += dependent(session, seqs)
            session.execute(delete(DeadLetter).where(DeadLetter.event_seq.in_(seqs)))
            gone = session.execute(delete(EventRow).where(EventRow.seq.in_(seqs)))
            removed += cast(CursorResult[Any], gone).rowcount


def _purge_rows(database: Database, model: Any, where: ColumnElement[bool], dry_run: bool) -> int:
    with database.read() as session:
        if dry_run:
            return int(session.scalar(select(func.count()).select_from(model).where(where)) or 0)
    removed = 0
    while True:
        with database.write() as session:
            ids = list(
                session.scalars(select(model.id).where(where).order_by(model.id).limit(BATCH))
            )
            if not ids:
                return removed
            gone = session.execute(delete(model).where(model.id.in_(ids)))
            removed += cast(CursorResult[Any], gone).rowcount


def _purge_kind(
    database: Database, kind: str, days: int | None, now: datetime, dry_run: bool
) -> KindReport:
    if days is None:  # interactions are always kept (the settings refuse a period)
        return KindReport(days=None)
    cutoff = now - timedelta(days=days)
    if kind in EVENT_KINDS:
        removed, dependents = _purge_events(database, EVENT_KINDS[kind], cutoff, dry_run)
        return KindReport(days, cutoff, removed, None if dry_run else dependents)
    if kind == "dead_letters":
        where = and_(DeadLetter.status == "resolved", DeadLetter.created_at < cutoff)
        return KindReport(days, cutoff, _purge_rows(database, DeadLetter, where, dry_run))
    if kind == "outbox_messages":
        where = and_(OutboxMessage.status.in_(FINISHED_OUTBOX), OutboxMessage.created_at < cutoff)
        return KindReport(days, cutoff, _purge_rows(database, OutboxMessage, where, dry_run))
    raise ValueError(f"no retention rule for {kind!r}")  # settings validate the kinds


def run_retention(
    database: Database,
    settings: Settings,
    actor: Principal,
    *,
    dry_run: bool = False,
    skip_if_run_within: timedelta | None = None,
    progress: Callable[[str], None] | None = None,
) -> RetentionRun | None:
    """Apply every kind's period; returns the recorded run, or None when skipped because
    another run started within ``skip_if_run_within`` (the schedule's guard)."""
    purges_events = any(settings.retention.get(kind) is not None for kind in EVENT_KINDS)
    if purges_events and not event_dependents:
        # Deleting events without their timeline rows would leave rows pointing nowhere.
        raise ServiceUnavailable("retention is not wired (runtime.privacy.wire)")
    with database.write() as session:
        if not database.sqlite:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RETENTION_LOCK_KEY})
        if skip_if_run_within is not None:
            last = last_run_started(session)
            if last is not None and last > utcnow() - skip_if_run_within:
                return None
        run = RetentionRun(started_at=utcnow(), actor=actor.actor, dry_run=dry_run, report="{}")
        session.add(run)
        session.flush()
        run_id, now = run.id, as_utc(run.started_at)
    report: dict[str, Any] = {}
    try:
        for kind, days in settings.retention.items():
            report[kind] = _purge_kind(database, kind, days, now, dry_run).as_dict(dry_run)
            if progress is not None:
                progress(kind)
    except Exception as exc:
        # What was deleted so far stays deleted: say so in the run's report.
        report["error"] = f"{type(exc).__name__}: {exc}"[:1000]
        _finish(database, run_id, actor, dry_run, report)
        raise
    return _finish(database, run_id, actor, dry_run, report)


def _finish(
    database: Database, run_id: int, actor: Principal, dry_run: bool, report: dict[str, Any]
) -> RetentionRun:
    with database.write() as session:
        run = session.get_one(RetentionRun, run_id)
        run.finished_at = utcnow()
        run.report = dumps(report)
        audit.record(
            session,
            actor,
            "retention.run",
            target_type="retention_run",
            target_id=run_id,
            detail={"dry_run": dry_run, "report": report},
        )
        return run


def last_run_started(session: Session) -> datetime | None:
    """When the latest real (not dry) run started."""
    value = session.scalar(
        select(func.max(RetentionRun.started_at)).where(RetentionRun.dry_run.is_(False))
    )
    return as_utc(value) if value is not None else None


def recent_runs(session: Session, limit: int = 20) -> list[RetentionRun]:
    return list(session.scalars(select(RetentionRun).order_by(RetentionRun.id.desc()).limit(limit)))


def report_of(run: RetentionRun) -> dict[str, Any]:
    value = loads(run.report) if run.report else {}
    return value if isinstance(value, dict) else {}
