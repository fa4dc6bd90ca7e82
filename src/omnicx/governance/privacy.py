"""Privacy requests: a person's export or erasure, tracked with a status and a deadline.

The person is the surviving customer and every customer ever merged into it. Their data
lives in tables of higher domains (identity, customers, the event log, the outbox), which
governance must not import; those domains provide ``PersonalDataHandler``s and a
``SubjectLocator`` that ``runtime.privacy`` registers in ``registry``. This module owns
the order of an erasure: every identifier is suppressed *before* anything is deleted,
so that the next event or email carrying it cannot re-create the person, then each
handler removes or redacts what it holds, all in the caller's transaction.

Lifecycle: received → in_progress → completed | failed (a failed request can be run
again; erasure is idempotent). ``result`` holds counts per table, never personal data.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol, cast

from sqlalchemy import ColumnElement, CursorResult, delete, or_, select
from sqlalchemy.orm import Session

from omnicx.core.database import Database, RawStatements
from omnicx.core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from omnicx.core.eventlog.codec import encode_payload
from omnicx.core.serialization import dumps, loads
from omnicx.core.settings import get_settings
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import audit
from omnicx.governance.models import Consent, PrivacyRequest
from omnicx.governance.service import Principal
from omnicx.governance.suppression import suppress

RequestKind = Literal["export", "erase"]
KINDS: tuple[RequestKind, ...] = ("export", "erase")
STATUSES = ("received", "in_progress", "completed", "failed")
# in_progress too: a run that crashed left it so; two runs serialize on the row lock.
RUNNABLE = frozenset({"received", "in_progress", "failed"})
CHECKPOINT_ATTEMPTS = 10

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubjectIdentifier:
    """One identifier of the person, as the blind index knows it (no value)."""

    type: str
    key_hash: bytes


@dataclass(frozen=True)
class Subject:
    """The person a request is about.

    ``customer_ids`` holds the survivor and every customer merged into it (following
    ``merged_into_id`` chains); ``event_seqs`` the events on their timeline.
    """

    customer_id: int
    customer_ids: tuple[int, ...]
    identifiers: tuple[SubjectIdentifier, ...]
    event_seqs: tuple[int, ...]

    @property
    def key_hashes(self) -> frozenset[bytes]:
        return frozenset(i.key_hash for i in self.identifiers)


Progress = Callable[[int], None]


def _no_progress(_: int) -> None:
    return None


@dataclass
class Erasure:
    """One erasure in progress: handlers add their counts and what to clean up after
    commit (JetStream messages by stream sequence, tables to vacuum)."""

    request: PrivacyRequest
    subject: Subject
    actor: str
    counts: dict[str, int] = field(default_factory=dict)
    stream_seqs: list[int] = field(default_factory=list)
    touched_tables: set[str] = field(default_factory=set)
    progress: Progress = _no_progress

    def count(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


class PersonalDataHandler(Protocol):
    """What one domain holds about a person: it exports it, and erases it."""

    name: str

    def export(self, session: Session, subject: Subject, progress: Progress) -> Any:
        """This domain's part of the export bundle (JSON-ready plaintext, for the person)."""

    def erase(self, session: Session, erasure: Erasure) -> None:
        """Remove or redact the person's data; record counts on ``erasure``. Idempotent."""


class SubjectLocator(Protocol):
    """Finds people in the identity graph (provided by the customers domain)."""

    def identifier_key(self, kind: str, value: str, scope: str) -> tuple[str, bytes]:
        """A raw identifier normalised as ingest would: (type, blind index).
        InvalidInput if it is not a valid identifier of that type."""

    def customer_by_identifier(self, session: Session, kind: str, value: str, scope: str) -> int:
        """The surviving customer holding this raw identifier; NotFound if none."""

    def subject(self, session: Session, customer_id: int, *, for_erasure: bool) -> Subject:
        """The person around this customer id; ``for_erasure`` also locks their
        identifiers against concurrent resolution (PostgreSQL)."""


@dataclass
class PrivacyRegistry:
    locator: SubjectLocator | None = None
    handlers: list[PersonalDataHandler] = field(default_factory=list)

    def register(self, handler: PersonalDataHandler) -> None:
        """Add a handler, or replace the one of that name where it stands (wiring may
        run more than once; the order of registration is the order of erasure)."""
        names = [h.name for h in self.handlers]
        if handler.name in names:
            self.handlers[names.index(handler.name)] = handler
        else:
            self.handlers.append(handler)

    def require_locator(self) -> SubjectLocator:
        if self.locator is None:
            raise ServiceUnavailable("privacy handlers are not wired (runtime.privacy.wire)")
        return self.locator


registry = PrivacyRegistry()


# -- redacted events ------------------------------------------------------------------------


def redacted_payload(event_type: str, why: str) -> dict[str, Any]:
    """What a redacted event's payload becomes: its type and why, nothing about anyone.
    The ``events`` row keeps its type, name and times (aggregates still count it)."""
    return {"type": event_type, "redacted": why}


def redact_events(session: Session, events: Sequence[tuple[int, str]], why: str) -> int:
    """Overwrite the stored payload of ``(seq, type)`` events. Returns how many."""
    if not events:
        return 0
    RawStatements(session).many(
        "UPDATE events SET payload = ? WHERE seq = ?",
        [(encode_payload(redacted_payload(kind, why)), seq) for seq, kind in events],
    )
    return len(events)


def is_redacted(payload: dict[str, Any]) -> bool:
    return "redacted" in payload and len(payload) <= 2


# -- requests -------------------------------------------------------------------------------


def open_request(
    session: Session,
    kind: str,
    *,
    reason: str,
    actor: Principal,
    customer_id: int | None = None,
    identifier: tuple[str, str, str] | None = None,
) -> PrivacyRequest:
    """Record a request about a customer (by id, or by an identifier ``(type, value,
    scope)``); due ``OMNICX_PRIVACY_REQUEST_DAYS`` from now. Audited ``privacy.request``."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if (customer_id is None) == (identifier is None):
        raise InvalidInput("name the person by customer_id or by identifier", field="customer_id")
    locator = registry.require_locator()
    if identifier is not None:
        customer_id = locator.customer_by_identifier(session, *identifier)
    assert customer_id is not None
    subject = locator.subject(session, customer_id, for_erasure=False)
    now = utcnow()
    request = PrivacyRequest(
        kind=kind,
        customer_id=subject.customer_id,
        status="received",
        reason=reason,
        requested_by=actor.actor[:200],
        created_at=now,
        due_at=now + timedelta(days=get_settings().privacy_request_days),
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        actor,
        "privacy.request",
        target_type="customer",
        target_id=subject.customer_id,
        detail={"request_id": request.id, "kind": kind},
    )
    return request


def get_request(session: Session, request_id: int, *, lock: bool = False) -> PrivacyRequest:
    stmt = select(PrivacyRequest).where(PrivacyRequest.id == request_id)
    row = session.scalar(stmt.with_for_update() if lock else stmt)
    if row is None:
        raise NotFound(f"no privacy request {request_id}", field="id")
    return row


def list_requests(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    overdue: bool = False,
    limit: int = 100,
    before_id: int | None = None,
) -> list[PrivacyRequest]:
    """Newest first; ``overdue``: not completed and past the deadline."""
    stmt = select(PrivacyRequest).order_by(PrivacyRequest.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(PrivacyRequest.status == status)
    if kind:
        stmt = stmt.where(PrivacyRequest.kind == kind)
    if overdue:
        stmt = stmt.where(PrivacyRequest.status != "completed", PrivacyRequest.due_at < utcnow())
    if before_id:
        stmt = stmt.where(PrivacyRequest.id < before_id)
    return list(session.scalars(stmt))


def start_request(session: Session, request: PrivacyRequest) -> None:
    """→ in_progress (the caller holds the row lock). Conflict once completed."""
    if request.status not in RUNNABLE:
        raise Conflict(
            f"privacy request {request.id} is already {request.status}",
            field="status",
        )
    request.status = "in_progress"
    request.error = None


def complete_request(session: Session, request: PrivacyRequest, result: dict[str, Any]) -> None:
    request.status = "completed"
    request.completed_at = utcnow()
    request.result = dumps(result)
    request.error = None


def fail_request(session: Session, request: PrivacyRequest, error: str) -> None:
    """Record why it failed; it can be run again."""
    request.status = "failed"
    request.error = error[:4000]


def is_overdue(request: PrivacyRequest) -> bool:
    return request.status != "completed" and as_utc(request.due_at) < utcnow()


def result_of(request: PrivacyRequest) -> dict[str, Any]:
    value = loads(request.result) if request.result else {}
    return value if isinstance(value, dict) else {}


# -- export -------------------------------------------------------------------------------


def compile_export(session: Session, request: PrivacyRequest) -> dict[str, int]:
    """Check the person can be exported; returns what the bundle holds (counts only)."""
    bundle = export_bundle(session, request)
    return {name: _size(part) for name, part in bundle["data"].items()}


def export_bundle(
    session: Session, request: PrivacyRequest, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Everything about the person, across every merged identity, from live data.

    Built when asked rather than stored, so no second copy of the data needs protecting
    or erasing.
    """
    if request.kind != "export":
        raise Conflict(f"privacy request {request.id} is an {request.kind}, not an export")
    subject = registry.require_locator().subject(session, request.customer_id, for_erasure=False)
    data: dict[str, Any] = {}
    for handler in registry.handlers:
        data[handler.name] = handler.export(session, subject, progress)
    data["consents"] = [_consent_out(c) for c in _consents(session, subject)]
    return {
        "format": "omnicx.privacy-export/1",
        "request_id": request.id,
        "generated_at": utcnow().isoformat(),
        "customer_id": subject.customer_id,
        "customer_ids": list(subject.customer_ids),
        "data": data,
    }


def _size(part: Any) -> int:
    if isinstance(part, list):
        return len(part)
    if isinstance(part, dict):
        return sum(_size(v) if isinstance(v, list | dict) else 1 for v in part.values())
    return 1


def _consents_of(subject: Subject) -> ColumnElement[bool]:
    """The person's consent decisions: by customer, or by the blind index a decision keeps
    to find its person again after a replay re-numbered customers."""
    return or_(
        Consent.customer_id.in_(subject.customer_ids),
        Consent.anchor_hash.in_(sorted(subject.key_hashes)),
    )


def _consents(session: Session, subject: Subject) -> list[Consent]:
    return list(
        session.scalars(
            select(Consent).where(_consents_of(subject)).order_by(Consent.occurred_at, Consent.id)
        )
    )


def _consent_out(row: Consent) -> dict[str, Any]:
    return {
        "customer_id": row.customer_id,
        "purpose": row.purpose,
        "channel": row.channel,
        "granted": row.granted,
        "source": row.source,
        "note": row.note,
        "occurred_at": as_utc(row.occurred_at).isoformat(),
    }


# -- erasure ------------------------------------------------------------------------------


def erase_subject(
    session: Session, request: PrivacyRequest, actor: Principal, progress: Progress = _no_progress
) -> Erasure:
    """Erase the person everywhere, in the caller's transaction. Audited ``privacy.erase``.

    Order matters: identifiers are suppressed first (so the person cannot come back,
    even through an event resolved concurrently), then each handler removes what it
    holds, then consent history goes (the request row is the record that remains).
    """
    if request.kind != "erase":
        raise Conflict(f"privacy request {request.id} is an {request.kind}, not an erasure")
    subject = registry.require_locator().subject(session, request.customer_id, for_erasure=True)
    erasure = Erasure(request=request, subject=subject, actor=actor.actor, progress=progress)
    for identifier in subject.identifiers:
        added = suppress(
            session,
            identifier.key_hash,
            identifier.type,
            "all",
            "erased",
            actor.actor,
            privacy_request_id=request.id,
        )
        erasure.count("suppressions", int(added))
    for handler in registry.handlers:
        handler.erase(session, erasure)
    removed = session.execute(delete(Consent).where(_consents_of(subject)))
    erasure.count("consents", cast(CursorResult[Any], removed).rowcount)
    erasure.touched_tables.add("consents")
    audit.record(
        session,
        actor,
        "privacy.erase",
        target_type="customer",
        target_id=subject.customer_id,
        detail={
            "request_id": request.id,
            "customer_ids": list(subject.customer_ids),
            "counts": erasure.counts,
        },
    )
    return erasure


# -- running a request (the boundary: it opens and commits its own transactions) ------------


def run_request(
    database: Database, request_id: int, actor: Principal, progress: Progress = _no_progress
) -> PrivacyRequest:
    """Process a request to completed (or failed, with the reason, and raise).

    An erasure commits in one transaction, then removes what the database alone cannot:
    the JetStream copies of the events, SQLite's old page images (secure_delete during
    the erasure, then a WAL checkpoint) and PostgreSQL's dead tuples (VACUUM).
    """
    with database.write() as session:
        request = get_request(session, request_id, lock=True)
        start_request(session, request)
        kind = request.kind
    try:
        if kind == "export":
            with database.write() as session:
                request = get_request(session, request_id, lock=True)
                _ensure_runnable(request)
                complete_request(session, request, {"bundle": compile_export(session, request)})
                return request
        erasure = _erase(database, request_id, actor, progress)
    except Conflict:
        raise  # another run finished it meanwhile: nothing failed
    except Exception as exc:
        with database.write() as session:
            fail_request(session, get_request(session, request_id), _describe(exc))
        raise
    cleaned, problem = _after_erasure(database, erasure)
    with database.write() as session:
        request = get_request(session, request_id, lock=True)
        request.result = dumps({**result_of(request), **cleaned})
        if problem:
            fail_request(session, request, problem)
        return request


def _ensure_runnable(request: PrivacyRequest) -> None:
    # A second run that waited for the row lock finds the first one's outcome.
    if request.status == "completed":
        raise Conflict(f"privacy request {request.id} is already completed", field="status")


def _erase(database: Database, request_id: int, actor: Principal, progress: Progress) -> Erasure:
    with database.write() as session:
        connection = session.connection()
        if database.sqlite:
            # Deleted and overwritten cells are zeroed in the page, not left as free space.
            connection.exec_driver_sql("PRAGMA secure_delete=ON")
        try:
            request = get_request(session, request_id, lock=True)
            _ensure_runnable(request)
            erasure = erase_subject(session, request, actor, progress)
            complete_request(session, request, {"counts": erasure.counts})
            session.flush()
        finally:
            if database.sqlite:
                connection.exec_driver_sql("PRAGMA secure_delete=OFF")
    return erasure


def _after_erasure(database: Database, erasure: Erasure) -> tuple[dict[str, Any], str | None]:
    """Post-commit clean-up: (what was done, for the result; a problem that fails the
    request so that it is run again, or None)."""
    done: dict[str, Any] = {}
    problem = None
    settings = get_settings()
    if erasure.stream_seqs and settings.uses_nats:
        from omnicx.core.eventlog.jetstream import delete_messages

        try:
            deleted, missing = asyncio.run(
                delete_messages(settings.event_log, settings.nats_stream, erasure.stream_seqs)
            )
            done["stream_messages"] = {"deleted": deleted, "already_gone": missing}
        except Exception as exc:
            log.exception("deleting erased events from the JetStream stream failed")
            problem = (
                f"erased in the database, but deleting {len(erasure.stream_seqs)} stream "
                f"messages failed ({_describe(exc)}); run the request again"
            )
    try:
        done["storage"] = reclaim_storage(database, sorted(erasure.touched_tables))
    except Exception as exc:
        # Not fatal: the data is gone from every live row; the space is reclaimed later.
        log.exception("reclaiming storage after an erasure failed")
        done["storage"] = f"not reclaimed: {_describe(exc)}"
    return done, problem


def reclaim_storage(database: Database, tables: Sequence[str]) -> str:
    """Remove old copies of erased rows from the database files.

    SQLite: checkpoint the WAL into the main file and truncate it (secure_delete already
    zeroed the old cells). PostgreSQL: VACUUM the touched tables so their dead tuples
    become free space (``pg_dump`` shows only live rows anyway; WAL archives and backups
    keep the old rows until they expire, see docs/security.md).
    """
    if database.sqlite:
        for _ in range(CHECKPOINT_ATTEMPTS):
            if _checkpoint(database):
                return "checkpointed"
            time.sleep(0.2)  # a reader (the pipeline, a page) holds an old snapshot
        return "checkpoint incomplete (readers were active): the next checkpoint completes it"
    known = [t for t in tables if t.isidentifier()]
    if not known:
        return "nothing to vacuum"
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM " + ", ".join(known))
    return "vacuumed " + ", ".join(known)


def _checkpoint(database: Database) -> bool:
    """Copy the WAL into the main file and truncate it. False if a reader prevented it."""
    # On the DB-API connection: a checkpoint cannot run inside SQLAlchemy's BEGIN
    # IMMEDIATE (the connection is in autocommit mode, see core.database).
    dbapi = database.engine.raw_connection()
    try:
        cursor = dbapi.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy = (cursor.fetchone() or (1,))[0]
        cursor.close()
    finally:
        dbapi.close()
    return not busy


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]
