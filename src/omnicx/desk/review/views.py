"""The queues as a reader sees them: customer names and identifier values through the
access layer (masked for the role), one ``customers.list`` audit entry per read."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from omnicx.customers.directory import customer_names, list_entry
from omnicx.desk.review.models import BackfillItem, UnmatchedSender
from omnicx.desk.review.schemas import BackfillOut, Reason, SuggestionOut, UnmatchedOut
from omnicx.desk.review.suggestions import suggest
from omnicx.governance.access import Shown, view_for
from omnicx.governance.audit import Draft
from omnicx.governance.service import Principal


def unmatched_out(
    session: Session, principal: Principal, items: Sequence[UnmatchedSender], ip: str | None = None
) -> tuple[list[UnmatchedOut], Draft]:
    """Items with their suggestions (only open items get any), and the audit entry the
    caller commits before answering."""
    view = view_for(session, principal)
    suggested = {i.id: suggest(session, view, i) if i.status == "open" else [] for i in items}
    ids = {i.customer_id for i in items} | {
        s.customer_id for found in suggested.values() for s in found
    }
    names, shown = customer_names(session, view, sorted(ids)) if ids else ({}, [])
    out = [
        UnmatchedOut(
            id=i.id,
            customer_id=i.customer_id,
            name=names.get(i.customer_id),
            conversation_id=i.conversation_id,
            channel=i.channel,
            first_message_at=i.first_message_at,
            status=i.status,
            target_customer_id=i.target_customer_id,
            decided_by=i.decided_by,
            decided_at=i.decided_at,
            suggestions=[
                SuggestionOut(
                    customer_id=s.customer_id,
                    name=names.get(s.customer_id),
                    reasons=[Reason(code=c, value=v) for c, v in s.reasons],
                )
                for s in suggested[i.id]
            ],
        )
        for i in items
    ]
    return out, list_entry(principal, rows=len(ids), shown=shown, via="review.unmatched", ip=ip)


def backfill_out(
    session: Session, principal: Principal, items: Sequence[BackfillItem], ip: str | None = None
) -> tuple[list[BackfillOut], Draft]:
    """Items with their values masked as identifiers are for the role, and the audit entry."""
    view = view_for(session, principal)
    shown: list[Shown] = []
    out = []
    for item in items:
        value, how = view.identifier(0, item.type, item.value)
        shown.append(how)
        out.append(
            BackfillOut(
                id=item.id,
                identifier_type=item.type,
                scope=item.scope,
                value=value,
                source=item.source_name,
                customer_id=item.customer_id,
                first_seen_at=item.first_seen_at,
                last_seen_at=item.last_seen_at,
                events=item.events,
                status=item.status,
                resolved_by=item.resolved_by,
                resolved_at=item.resolved_at,
                note=view.text(item.note) if item.note else None,
            )
        )
    return out, list_entry(principal, rows=len(items), shown=shown, via="review.backfill", ip=ip)
