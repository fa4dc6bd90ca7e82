"""The audit log: append-only and tamper-evident.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's own
content, ids are contiguous, and the ``audit_head`` row holds the last link. Editing a
row, deleting one or cutting the tail therefore breaks ``verify``. Writers lock the head
row (``FOR UPDATE`` on PostgreSQL; SQLite has one writer), so the chain never forks, and
an entry commits in the same transaction as the action it records.

Entries never hold personal data: they name the customer by id and the field by name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.serialization import dump_bytes, dumps, loads
from omnicx.core.time import as_utc, utcnow
from omnicx.governance.models import AuditEntry, AuditHead
from omnicx.governance.service import Principal

GENESIS = "0" * 64


def _digest(prev_hash: str, entry: AuditEntry) -> str:
    content = [
        entry.id,
        as_utc(entry.at).isoformat(),
        entry.actor,
        entry.actor_role,
        entry.action,
        entry.target_type,
        entry.target_id,
        entry.detail,
        entry.ip,
    ]
    return hashlib.sha256(prev_hash.encode() + dump_bytes(content)).hexdigest()


def record(
    session: Session,
    actor: Principal,
    action: str,
    *,
    target_type: str | None = None,
    target_id: object = None,
    detail: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction (it commits with the action)."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    entry = AuditEntry(
        id=head.last_id + 1,
        at=utcnow(),
        actor=actor.actor[:200],
        actor_role=actor.role,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id)[:100],
        detail=dumps(dict(detail or {})),
        ip=ip,
        prev_hash=head.last_hash,
    )
    entry.hash = _digest(head.last_hash, entry)
    session.add(entry)
    head.last_id, head.last_hash = entry.id, entry.hash
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    broken_at: int | None = None
    problem: str | None = None


def _entries(session: Session, batch: int = 2000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)
            )
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.expunge_all()


def verify(session: Session) -> ChainReport:
    """Walk the whole chain; the first entry that does not fit is reported."""
    expected_prev, expected_id, checked = GENESIS, 1, 0
    for entry in _entries(session):
        if entry.id != expected_id:
            return ChainReport(False, checked, expected_id, f"entry {expected_id} is missing")
        if entry.prev_hash != expected_prev:
            return ChainReport(False, checked, entry.id, "it does not link to the entry before")
        if _digest(expected_prev, entry) != entry.hash:
            return ChainReport(False, checked, entry.id, "its content was changed")
        expected_prev, expected_id, checked = entry.hash, expected_id + 1, checked + 1
    head = session.get(AuditHead, 1)
    if head is None or head.last_id != checked or head.last_hash != expected_prev:
        return ChainReport(False, checked, checked + 1, "entries after this one were removed")
    return ChainReport(True, checked)


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search(
    session: Session, where: AuditFilter, limit: int = 100, before_id: int | None = None
) -> list[AuditEntry]:
    """Entries newest first, filtered; ``before_id`` pages backwards."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if where.actor:
        stmt = stmt.where(AuditEntry.actor == where.actor)
    if where.action:
        # "customer." matches every customer action; "customer.view" just that one.
        if where.action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(where.action))
        else:
            stmt = stmt.where(AuditEntry.action == where.action)
    if where.target_type:
        stmt = stmt.where(AuditEntry.target_type == where.target_type)
    if where.target_id:
        stmt = stmt.where(AuditEntry.target_id == where.target_id)
    if where.since:
        stmt = stmt.where(AuditEntry.at >= where.since)
    if where.until:
        stmt = stmt.where(AuditEntry.at < where.until)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.scalars(stmt))


def detail_of(entry: AuditEntry) -> dict[str, Any]:
    value = loads(entry.detail)
    return value if isinstance(value, dict) else {}
