"""A privacy request's record: who asked what about whom, its status and its deadline.

Lifecycle: received → in_progress → completed | failed (a failed request can be run
again; erasure is idempotent). ``result`` holds counts per table, never personal data.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict, InvalidInput, NotFound, check_text
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.settings import get_settings
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import audit
from omnicx.governance.models import PrivacyRequest
from omnicx.governance.privacy.registry import registry
from omnicx.governance.service import Principal

RequestKind = Literal["export", "erase"]
KINDS: tuple[RequestKind, ...] = ("export", "erase")
STATUSES = ("received", "in_progress", "completed", "failed")
# in_progress too: a run that crashed left it so; two runs serialize on the row lock.
RUNNABLE = frozenset({"received", "in_progress", "failed"})


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
        raise InvalidInput(msg("kind must be one of {names}", names=", ".join(KINDS)), field="kind")
    if (customer_id is None) == (identifier is None):
        raise InvalidInput("name the person by customer_id or by identifier", field="customer_id")
    check_text(reason, "reason")
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
        raise NotFound(msg("no privacy request {request_id}", request_id=request_id), field="id")
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
            msg("privacy request {id} is already {status}", id=request.id, status=request.status),
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
