"""The audit log: append-only and tamper-evident.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's own
content, ids are contiguous, and the ``audit_head`` row holds the last link. Editing a
row, deleting one or cutting the tail therefore breaks ``verify``. Writers lock the head
row (``FOR UPDATE`` on PostgreSQL; SQLite has one writer), so the chain never forks, and
an entry commits in the same transaction as the action it records.

A read has no transaction of its own to join, yet must not answer before its entry is
durable: ``commit_entry`` appends it in a write transaction shared with the entries of
the other reads that arrive at the same moment (group commit), and returns once that
transaction has committed.

Entries never hold personal data: they name the customer by id and the field by name.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from omnicx.core.database import Database, RawStatements
from omnicx.core.errors import ServiceUnavailable, check_text
from omnicx.core.serialization import dump_bytes, dumps, loads
from omnicx.core.time import as_utc, utcnow
from omnicx.governance.models import AuditEntry, AuditHead

if TYPE_CHECKING:
    # Only for annotations: the sign-in service records audit entries, so importing it
    # here at run time would be circular.
    from omnicx.governance.service import Principal

GENESIS = "0" * 64
log = logging.getLogger(__name__)


def _hash(prev_hash: str, entry_id: int, entry: Draft | AuditEntry) -> str:
    content = [
        entry_id,
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


def _digest(prev_hash: str, entry: AuditEntry) -> str:
    return _hash(prev_hash, entry.id, entry)


@dataclass(frozen=True)
class Draft:
    """An entry before it has its place in the chain (its id and hashes)."""

    at: datetime
    actor: str
    actor_role: str
    action: str
    target_type: str | None
    target_id: str | None
    detail: str
    ip: str | None


def draft(
    actor: Principal,
    action: str,
    *,
    target_type: str | None = None,
    target_id: object = None,
    detail: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> Draft:
    """An entry for ``actor``'s ``action``, stamped now; ``append`` gives it its place."""
    return Draft(
        at=utcnow(),
        actor=actor.actor[:200],
        actor_role=actor.role,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id)[:100],
        detail=dumps(dict(detail or {})),
        ip=ip,
    )


HEAD = "SELECT last_id, last_hash FROM audit_head WHERE id = 1"
APPEND = (
    "INSERT INTO audit_log (id, at, actor, actor_role, action, target_type, target_id,"
    " detail, ip, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
MOVE_HEAD = "UPDATE audit_head SET last_id = ?, last_hash = ? WHERE id = 1"


def append(session: Session, drafts: Sequence[Draft]) -> list[int]:
    """Append entries, in order, in the caller's transaction; locks the head row (held
    until that transaction ends). Returns their ids."""
    if not drafts:
        return []
    # Raw statements: every audited read passes here (see ADR 0003 on hot paths).
    raw = RawStatements(session)
    lock = "" if raw.sqlite else " FOR UPDATE"
    last_id, last_hash = raw.select(HEAD + lock)[0]
    rows, ids = [], []
    for entry in drafts:
        entry_id = last_id + 1
        entry_hash = _hash(last_hash, entry_id, entry)
        rows.append(
            (
                entry_id,
                raw.time(entry.at),
                entry.actor,
                entry.actor_role,
                entry.action,
                entry.target_type,
                entry.target_id,
                entry.detail,
                entry.ip,
                last_hash,
                entry_hash,
            )
        )
        ids.append(entry_id)
        last_id, last_hash = entry_id, entry_hash
    raw.many(APPEND, rows)
    raw.many(MOVE_HEAD, [(last_id, last_hash)])
    # A head row this session loaded earlier must not keep the old link.
    head = session.identity_map.get(identity_key(AuditHead, 1))
    if head is not None:
        session.expire(head)
    return ids


def record(
    session: Session,
    actor: Principal,
    action: str,
    *,
    target_type: str | None = None,
    target_id: object = None,
    detail: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> int:
    """Append an entry in the caller's transaction (it commits with the action); its id."""
    entry = draft(actor, action, target_type=target_type, target_id=target_id, detail=detail, ip=ip)
    return append(session, [entry])[0]


# -- group commit -------------------------------------------------------------------------


class AuditUnavailable(ServiceUnavailable):
    """The entry for a read could not be committed, so the read is not answered."""

    code = "audit_unavailable"


class _Waiting:
    __slots__ = ("done", "entry", "entry_id", "error")

    def __init__(self, entry: Draft):
        self.entry = entry
        self.done = False
        self.entry_id = 0
        self.error: BaseException | None = None


class GroupCommit:
    """Appends the entries of many threads in shared write transactions (group commit).

    A caller hands in its entry and is blocked until the transaction holding it has
    committed. A caller that arrives while no transaction is open leads one: it takes
    the waiting entries (up to ``max_batch``), appends them in one write transaction and
    wakes their callers with the ids or the failure; entries that arrive meanwhile go in
    the next transaction, led by one of their callers. Under load a transaction carries
    what arrived during the one before; a lone caller pays for one transaction, as
    without batching. While callers arrive together, a leader first waits ``linger``
    seconds for company (fewer, larger transactions).
    Every caller passes the same database: one committer per database
    (``commit_entry``); processes each group their own, the head row lock orders them.
    """

    def __init__(self, *, max_batch: int = 256, linger: float = 0.001, wait_seconds: float = 40.0):
        self.max_batch = max_batch
        self.linger = linger
        self.wait_seconds = wait_seconds  # beyond the write lock's own wait (30 s)
        self._changed = threading.Condition()
        self._queue: list[_Waiting] = []
        self._leading = False
        self._last_batch = 0
        self.transactions = 0  # committed so far

    @property
    def waiting(self) -> int:
        """Entries queued for the next transaction."""
        with self._changed:
            return len(self._queue)

    def append(self, database: Database, entry: Draft) -> int:
        """Append ``entry`` and return its id once its transaction has committed. Raises
        AuditUnavailable when that transaction failed or did not end in time."""
        waiting = _Waiting(entry)
        deadline = time.monotonic() + self.wait_seconds
        with self._changed:
            self._queue.append(waiting)
            while not waiting.done:
                if not self._leading:
                    self._lead(database)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if waiting in self._queue:  # not written: the read goes unanswered
                        self._queue.remove(waiting)
                    raise AuditUnavailable("the audit log did not record this read in time")
                self._changed.wait(remaining)
        if waiting.error is not None:
            raise AuditUnavailable("the audit log could not record this read") from waiting.error
        return waiting.entry_id

    def _lead(self, database: Database) -> None:
        # Called with the condition held; writes with it released, so others can queue.
        self._leading = True
        batch: list[_Waiting] = []
        try:
            # Linger only while reads arrive together (the last transaction carried
            # several): a lone reader never waits for company that is not coming.
            if self.linger and self._last_batch > 1 and len(self._queue) < self.max_batch:
                self._changed.wait(self.linger)
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            self._changed.release()
            try:
                with database.write() as session:
                    ids = append(session, [w.entry for w in batch])
                for waiting, entry_id in zip(batch, ids, strict=True):
                    waiting.entry_id = entry_id
                self.transactions += 1
                self._last_batch = len(batch)
            except BaseException as exc:
                log.error("an audit transaction of %d entries failed", len(batch), exc_info=exc)
                for waiting in batch:
                    waiting.error = exc
                if not isinstance(exc, Exception):
                    raise
            finally:
                self._changed.acquire()
        finally:
            for waiting in batch:
                if not waiting.entry_id and waiting.error is None:
                    waiting.error = RuntimeError("the audit transaction was interrupted")
                waiting.done = True
            self._leading = False
            self._changed.notify_all()


_committers: WeakKeyDictionary[Database, GroupCommit] = WeakKeyDictionary()
_committers_lock = threading.Lock()


def group_commit(database: Database) -> GroupCommit:
    """The process's committer for ``database``."""
    with _committers_lock:
        committer = _committers.get(database)
        if committer is None:
            committer = _committers[database] = GroupCommit()
        return committer


def commit_entry(database: Database, entry: Draft) -> int:
    """Append ``entry`` in a write transaction of its own, shared with the entries other
    threads commit at the same moment; returns its id once committed (durable). For a
    read whose answer must wait for its audit row. Raises AuditUnavailable."""
    return group_commit(database).append(database, entry)


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
