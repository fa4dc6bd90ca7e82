"""Scheduling, re-scheduling and cancelling jobs by key (in the caller's transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import CursorResult, Row, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omnicx.core.database import table_of
from omnicx.core.scheduler.alarm import note_due
from omnicx.core.scheduler.models import ACTIVE, STATUSES, ScheduledJob
from omnicx.core.serialization import dumps
from omnicx.core.time import as_datetime, as_utc, utcnow

KEY_MAX = 200
KIND_MAX = 64
# The columns a schedule writes.
UPSERTED = (
    "kind",
    "key",
    "due_at",
    "payload",
    "status",
    "attempts",
    "lease_owner",
    "lease_expires_at",
    "last_error",
    "created_at",
    "updated_at",
)


def schedule(
    session: Session,
    kind: str,
    key: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
) -> int:
    """Have the job ``key`` run at ``due_at``; returns its id. Idempotent by key.

    A new key inserts a job; an existing key is re-scheduled whatever its state: kind,
    due time and payload replaced, attempts reset, a lease taken by a runner dropped (that
    runner will not fire it). Takes the key's row lock on PostgreSQL until commit.
    """
    job_id = _upsert(session, kind, key, due_at, payload, replace_active=True)
    assert job_id is not None  # an unconditional upsert always returns the row
    return job_id


def ensure_scheduled(
    session: Session,
    kind: str,
    key: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Schedule ``key`` at ``due_at`` unless it is already pending or running (then it
    keeps its own due time); True when this call (re)scheduled it. Idempotent by key."""
    return _upsert(session, kind, key, due_at, payload, replace_active=False) is not None


def _upsert(
    session: Session,
    kind: str,
    key: str,
    due_at: datetime,
    payload: dict[str, Any] | None,
    *,
    replace_active: bool,
) -> int | None:
    if not key or len(key) > KEY_MAX:
        raise ValueError(f"a job key is 1 to {KEY_MAX} characters")
    if not kind or len(kind) > KIND_MAX:
        raise ValueError(f"a job kind is 1 to {KIND_MAX} characters")
    now, due = utcnow(), as_utc(due_at)
    values = {
        "kind": kind,
        "key": key,
        "due_at": due,
        "payload": dumps(payload or {}),
        "status": "pending",
        "attempts": 0,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }
    statement = _upsert_statement(session.get_bind().dialect.name, replace_active)
    job_id = session.execute(statement, values).scalar_one_or_none()
    if job_id is None:
        return None
    note_due(session, due)
    return int(job_id)


def cancel(session: Session, key: str) -> bool:
    """Cancel the job ``key`` if it has not fired yet; False if there is none to cancel.

    A runner holding it leased does not fire it (it checks the lease before it runs
    the handler, under the row lock on PostgreSQL).
    """
    result = session.execute(_cancel_statement(), {"job_key": key, "now": utcnow()})
    return cast(CursorResult[Any], result).rowcount > 0


# Built once and reused: SLA clocks schedule and cancel jobs for every customer message, and
# a statement built anew per call cost more than the database's work (the compiled form
# is cached by statement).
@lru_cache
def _upsert_statement(dialect: str, replace_active: bool) -> Any:
    jobs = table_of(ScheduledJob)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(jobs)
    replaced = {name: stmt.excluded[name] for name in UPSERTED if name not in ("key", "created_at")}
    only = None if replace_active else jobs.c.status.not_in(ACTIVE)
    return stmt.on_conflict_do_update(
        index_elements=[jobs.c.key], set_=replaced, where=only
    ).returning(jobs.c.id)


@lru_cache
def _cancel_statement() -> Any:
    jobs = table_of(ScheduledJob)
    return (
        update(jobs)
        .where(jobs.c.key == bindparam("job_key"), jobs.c.status.in_(ACTIVE))
        .values(
            status="cancelled",
            lease_owner=None,
            lease_expires_at=None,
            updated_at=bindparam("now"),
        )
    )


def job_status(session: Session, key: str) -> str | None:
    """The status of the job ``key``, or None when there is no such job."""
    return session.scalar(select(ScheduledJob.status).where(ScheduledJob.key == key))


def list_jobs(
    session: Session,
    *,
    statuses: Sequence[str] = (),
    kind: str | None = None,
    limit: int = 50,
) -> list[Row[Any]]:
    """Jobs without their payload: what is waiting (soonest first) or what happened last.

    Listing only pending or running jobs orders them by due time; anything else lists
    the latest changes first.
    """
    unknown = set(statuses) - set(STATUSES)
    if unknown:
        raise ValueError(f"unknown status {', '.join(sorted(unknown))}")
    stmt = select(
        ScheduledJob.id,
        ScheduledJob.kind,
        ScheduledJob.key,
        ScheduledJob.status,
        ScheduledJob.due_at,
        ScheduledJob.attempts,
        ScheduledJob.lease_owner,
        ScheduledJob.fired_at,
        ScheduledJob.last_error,
    ).limit(limit)
    if statuses:
        stmt = stmt.where(ScheduledJob.status.in_(statuses))
    if kind:
        stmt = stmt.where(ScheduledJob.kind == kind)
    if statuses and set(statuses) <= set(ACTIVE):
        stmt = stmt.order_by(ScheduledJob.due_at, ScheduledJob.id)
    else:
        stmt = stmt.order_by(ScheduledJob.updated_at.desc(), ScheduledJob.id.desc())
    return list(session.execute(stmt))


def status_counts(session: Session, kind: str | None = None) -> dict[str, int]:
    """How many jobs are in each status (optionally of one kind)."""
    stmt = select(ScheduledJob.status, func.count()).group_by(ScheduledJob.status)
    if kind:
        stmt = stmt.where(ScheduledJob.kind == kind)
    return {row[0]: int(row[1]) for row in session.execute(stmt)}


def due_backlog(session: Session, now: datetime) -> tuple[int, datetime | None]:
    """Pending jobs already due, and the due time of the oldest of them (how late the
    scheduler runs); the (status, due_at) index serves both."""
    count, oldest = session.execute(
        select(func.count(), func.min(ScheduledJob.due_at)).where(
            ScheduledJob.status == "pending", ScheduledJob.due_at <= now
        )
    ).one()
    return int(count or 0), as_datetime(oldest) if oldest else None
