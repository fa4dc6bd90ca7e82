"""Reading customers: the 360 view in one read, and the paginated timeline."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput, NotFound
from omnicx.core.eventlog.models import EventRow
from omnicx.core.serialization import loads
from omnicx.core.time import as_utc, parse_timestamp
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.customers.schemas import (
    Customer360,
    IdentifierOut,
    MergeOut,
    TimelineItem,
    TimelinePage,
)
from omnicx.identity.models import Customer
from omnicx.identity.service import current_customer_id, identifiers_of, merges_of

RECENT_EVENTS = 20


def _properties(payload: str) -> dict[str, Any]:
    data = loads(payload)
    props = data.get("properties") if data.get("type") != "identify" else data.get("traits")
    return props if isinstance(props, dict) else {}


def _timeline(
    session: Session, customer_id: int, limit: int, before: tuple[datetime, int] | None = None
) -> list[TimelineItem]:
    stmt = (
        select(TimelineEntry, EventRow.payload)
        .join(EventRow, EventRow.seq == TimelineEntry.event_seq)
        .where(TimelineEntry.customer_id == customer_id)
    )
    if before is not None:
        at, seq = before
        stmt = stmt.where(
            or_(
                TimelineEntry.occurred_at < at,
                and_(TimelineEntry.occurred_at == at, TimelineEntry.event_seq < seq),
            )
        )
    stmt = stmt.order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.event_seq.desc()).limit(
        limit
    )
    return [
        TimelineItem(
            seq=entry.event_seq,
            occurred_at=as_utc(entry.occurred_at),
            type=entry.type,
            name=entry.name,
            channel=entry.channel,
            source_id=entry.source_id,
            properties=_properties(payload),
        )
        for entry, payload in session.execute(stmt)
    ]


def customer_360(session: Session, requested_id: int) -> Customer360:
    """Everything known about a customer, following merges to the survivor."""
    customer_id = current_customer_id(session, requested_id)
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {requested_id}", field="id")
    profile = session.get(CustomerProfile, customer_id)
    return Customer360(
        id=customer_id,
        requested_id=requested_id,
        created_at=as_utc(customer.created_at),
        traits=loads(profile.traits) if profile else {},
        identifiers=[
            IdentifierOut(id=i.id, type=i.type, scope=i.scope, value=i.value)
            for i in identifiers_of(session, customer_id)
        ],
        channels=loads(profile.channels) if profile else [],
        event_count=profile.event_count if profile else 0,
        first_seen_at=as_utc(profile.first_seen_at) if profile and profile.first_seen_at else None,
        last_seen_at=as_utc(profile.last_seen_at) if profile and profile.last_seen_at else None,
        recent_events=_timeline(session, customer_id, RECENT_EVENTS),
        merges=[
            MergeOut(
                id=m.id,
                survivor_id=m.survivor_id,
                merged_id=m.merged_id,
                reason=m.reason,
                created_at=as_utc(m.created_at),
                undone_at=as_utc(m.undone_at) if m.undone_at else None,
            )
            for m in merges_of(session, customer_id)
        ],
    )


def encode_cursor(item: TimelineItem) -> str:
    raw = f"{item.occurred_at.isoformat()}|{item.seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, seq = raw.rsplit("|", 1)
        return parse_timestamp(at), int(seq)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API returned", field="cursor") from exc


def timeline_page(
    session: Session, requested_id: int, limit: int, cursor: str | None
) -> TimelinePage:
    customer_id = current_customer_id(session, requested_id)
    before = decode_cursor(cursor) if cursor else None
    items = _timeline(session, customer_id, limit + 1, before)
    more = len(items) > limit
    items = items[:limit]
    return TimelinePage(
        customer_id=customer_id,
        items=items,
        next_cursor=encode_cursor(items[-1]) if more and items else None,
    )
