"""The export bundle: everything about a person, across every merged identity.

Built from live data each time it is asked for rather than stored, so no second copy of
the data needs protecting or erasing; every download is audited ``privacy.export``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict
from omnicx.core.i18n import msg
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import audit
from omnicx.governance.models import Consent, PrivacyRequest
from omnicx.governance.privacy.registry import (
    Progress,
    Subject,
    consents_of,
    no_progress,
    registry,
)
from omnicx.governance.service import Principal

FORMAT = "omnicx.privacy-export/1"


def compile_export(session: Session, request: PrivacyRequest) -> dict[str, int]:
    """Check the person can be exported; returns what the bundle holds (counts only)."""
    bundle = export_bundle(session, request)
    return {name: _size(part) for name, part in bundle["data"].items()}


def export_bundle(
    session: Session, request: PrivacyRequest, progress: Progress = no_progress
) -> dict[str, Any]:
    """Everything about the person, across every merged identity, from live data."""
    if request.kind != "export":
        raise Conflict(
            msg(
                "privacy request {id} is an {kind}, not an export", id=request.id, kind=request.kind
            )
        )
    subject = registry.require_locator().subject(session, request.customer_id, for_erasure=False)
    data: dict[str, Any] = {}
    for handler in registry.handlers:
        data[handler.name] = handler.export(session, subject, progress)
    data["consents"] = [_consent_out(c) for c in _consents(session, subject)]
    return {
        "format": FORMAT,
        "request_id": request.id,
        "generated_at": utcnow().isoformat(),
        "customer_id": subject.customer_id,
        "customer_ids": list(subject.customer_ids),
        "data": data,
    }


def deliver_export(
    session: Session,
    request: PrivacyRequest,
    actor: Principal,
    *,
    ip: str | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """The bundle of a completed export, handed to ``actor``: audited ``privacy.export``
    (section names only). Conflict unless the request is a completed export."""
    if request.kind != "export" or request.status != "completed":
        raise Conflict(
            msg("privacy request {id} is not a completed export", id=request.id), field="request_id"
        )
    bundle = export_bundle(session, request, progress)
    audit.record(
        session,
        actor,
        "privacy.export",
        target_type="customer",
        target_id=request.customer_id,
        detail={"request_id": request.id, "sections": sorted(bundle["data"])},
        ip=ip,
    )
    return bundle


def _size(part: Any) -> int:
    if isinstance(part, list):
        return len(part)
    if isinstance(part, dict):
        return sum(_size(v) if isinstance(v, list | dict) else 1 for v in part.values())
    return 1


def _consents(session: Session, subject: Subject) -> list[Consent]:
    return list(
        session.scalars(
            select(Consent).where(consents_of(subject)).order_by(Consent.occurred_at, Consent.id)
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
