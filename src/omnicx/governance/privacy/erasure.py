"""Erasing a person everywhere, in the caller's transaction.

This module owns the order of an erasure: every identifier is suppressed *before*
anything is deleted, so that the next event or email carrying it cannot re-create the
person, then each registered handler removes or redacts what its domain holds, then the
consent history goes (the request row is the record that remains).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict
from omnicx.core.i18n import msg
from omnicx.governance import audit
from omnicx.governance.models import Consent, PrivacyRequest
from omnicx.governance.privacy.registry import (
    Erasure,
    Progress,
    consents_of,
    no_progress,
    registry,
)
from omnicx.governance.service import Principal
from omnicx.governance.suppression import suppress


def erase_subject(
    session: Session, request: PrivacyRequest, actor: Principal, progress: Progress = no_progress
) -> Erasure:
    """Erase the person everywhere, in the caller's transaction. Audited ``privacy.erase``.

    Order matters: identifiers are suppressed first (so the person cannot come back,
    even through an event resolved concurrently), then each handler removes what it
    holds, then consent history goes (the request row is the record that remains).
    """
    if request.kind != "erase":
        raise Conflict(
            msg(
                "privacy request {id} is an {kind}, not an erasure",
                id=request.id,
                kind=request.kind,
            )
        )
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
    removed = session.execute(delete(Consent).where(consents_of(subject)))
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
