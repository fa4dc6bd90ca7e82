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
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from omnicx.core.errors import check_text
from omnicx.core.serialization import dump_bytes, dumps, loads
from omnicx.core.time import as_utc, utcnow
from omnicx.governance.models import AuditEntry, AuditHead

if TYPE_CHECKING:
    # Only for annotations: the sign-in service records audit entries, so importing it
    # here at run time would be circular.
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

    def __post_init__(self) -> None:
        for name in ("actor", "action", "target_type", "target_id"):
            check_text(getattr(self, name) or "", name)

    def as_detail(self) -> dict[str, str]:
        """The filter as an audit detail (what an export covered)."""
        return {
            k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items() if v
        }


def _matching(where: AuditFilter) -> Select[AuditEntry]:
    stmt = select(AuditEntry)
    if where.actor:
        stmt = stmt.where(AuditEntry.actor == where.actor)
    if where.action:
        # "customer." matches every customer action; "customer.view" just that one.
        if where.action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(where.action, autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == where.action)
    if where.target_type:
        stmt = stmt.where(AuditEntry.target_type == where.target_type)
    if where.target_id:
        stmt = stmt.where(AuditEntry.target_id == where.target_id)
    # SQLite keeps UTC wall-clock text: a bound in another zone must be converted first.
    if where.since:
        stmt = stmt.where(AuditEntry.at >= as_utc(where.since))
    if where.until:
        stmt = stmt.where(AuditEntry.at < as_utc(where.until))
    return stmt


def search(
    session: Session,
    where: AuditFilter,
    limit: int = 100,
    before_id: int | None = None,
    after_id: int | None = None,
) -> list[AuditEntry]:
    """Entries newest first, filtered; ``before_id`` pages backwards (older), ``after_id``
    forwards (the ``limit`` entries just newer than it, still newest first)."""
    if after_id:
        stmt = _matching(where).where(AuditEntry.id > after_id)
        newer = list(session.scalars(stmt.order_by(AuditEntry.id.asc()).limit(limit)))
        return newer[::-1]
    stmt = _matching(where).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.scalars(stmt))


def count(session: Session, where: AuditFilter) -> int:
    """How many entries match (for progress bars)."""
    matching = _matching(where).subquery()
    return session.scalar(select(func.count()).select_from(matching)) or 0


def search_all(session: Session, where: AuditFilter, batch: int = 1000) -> Iterator[AuditEntry]:
    """Every matching entry, newest first, read in pages (for exports of any size)."""
    before_id: int | None = None
    while True:
        page = search(session, where, batch, before_id)
        yield from page
        if len(page) < batch:
            return
        before_id = page[-1].id
        session.expunge_all()


CSV_COLUMNS = (
    "id",
    "at",
    "actor",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "ip",
    "detail",
    "prev_hash",
    "hash",
)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ runs as a formula in spreadsheets (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_row(e: AuditEntry) -> list[str]:
    """An entry as a CSV row (``CSV_COLUMNS``), with the hashes so it can be re-verified."""
    at = as_utc(e.at).isoformat()
    row = (e.id, at, e.actor, e.actor_role, e.action, e.target_type, e.target_id, e.ip)
    return [*map(_cell, row), e.detail, e.prev_hash, e.hash]


def detail_of(entry: AuditEntry) -> dict[str, Any]:
    value = loads(entry.detail)
    return value if isinstance(value, dict) else {}


def readable_value(value: Any) -> str:
    """A detail value as a person reads it: yes/no, lists joined, nested keys named."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(readable_value(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {readable_value(v)}" for k, v in value.items()) or "none"
    return str(value)


def readable_detail(entry: AuditEntry) -> list[tuple[str, str]]:
    """An entry's detail as (key, value) text pairs, in the order it was recorded."""
    return [(str(k), readable_value(v)) for k, v in detail_of(entry).items()]
