"""Reading customers: the 360 view in one read, and the paginated timeline."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements
from omnicx.core.errors import InvalidInput, NotFound
from omnicx.core.eventlog.codec import decode_payload
from omnicx.core.serialization import loads
from omnicx.core.time import as_datetime, parse_timestamp
from omnicx.customers.profiles import decode_traits
from omnicx.customers.schemas import (
    Customer360,
    IdentifierOut,
    MergeOut,
    TimelineItem,
    TimelinePage,
)
from omnicx.identity.service import current_customer_id, identifiers_of, merges_of

RECENT_EVENTS = 20


def _properties(payload: str) -> dict[str, Any]:
    data = decode_payload(payload)
    props = data.get("properties") if data.get("type") != "identify" else data.get("traits")
    return props if isinstance(props, dict) else {}


TIMELINE = (
    "SELECT t.event_seq, t.occurred_at, t.type, t.name, t.channel, t.source_id, e.payload"
    " FROM customer_timeline t JOIN events e ON e.seq = t.event_seq WHERE t.customer_id = ?"
)
NEWEST_FIRST = " ORDER BY t.occurred_at DESC, t.event_seq DESC LIMIT ?"


def _timeline(
    session: Session, customer_id: int, limit: int, before: tuple[datetime, int] | None = None
) -> list[TimelineItem]:
    raw = RawStatements(session)
    if before is None:
        rows = raw.select(TIMELINE + NEWEST_FIRST, (customer_id, limit))
    else:
        at, seq = raw.time(before[0]), before[1]
        rows = raw.select(
            TIMELINE
            + " AND (t.occurred_at < ? OR (t.occurred_at = ? AND t.event_seq < ?))"
            + NEWEST_FIRST,
            (customer_id, at, at, seq, limit),
        )
    return [
        TimelineItem(
            seq=seq,
            occurred_at=as_datetime(occurred_at),
            type=kind,
            name=name,
            channel=channel,
            source_id=source_id,
            properties=_properties(payload),
        )
        for seq, occurred_at, kind, name, channel, source_id, payload in rows
    ]


def customer_360(session: Session, requested_id: int) -> Customer360:
    """Everything known about a customer, following merges to the survivor.

    The agent's screen-pop: a handful of indexed reads on the raw path.
    """
    customer_id = current_customer_id(session, requested_id)
    rows = RawStatements(session).select(
        "SELECT c.created_at, p.traits, p.channels, p.event_count, p.first_seen_at,"
        " p.last_seen_at FROM customers c LEFT JOIN customer_profiles p"
        " ON p.customer_id = c.id WHERE c.id = ?",
        (customer_id,),
    )
    if not rows:
        raise NotFound(f"no customer {requested_id}", field="id")
    created_at, traits, channels, event_count, first_seen, last_seen = rows[0]
    return Customer360(
        id=customer_id,
        requested_id=requested_id,
        created_at=as_datetime(created_at),
        traits=decode_traits(traits),
        identifiers=[
            IdentifierOut(id=i.id, type=i.type, scope=i.scope, value=i.value)
            for i in identifiers_of(session, customer_id)
        ],
        channels=loads(channels) if channels else [],
        event_count=event_count or 0,
        first_seen_at=as_datetime(first_seen) if first_seen else None,
        last_seen_at=as_datetime(last_seen) if last_seen else None,
        recent_events=_timeline(session, customer_id, RECENT_EVENTS),
        merges=[
            MergeOut(
                id=m.id,
                survivor_id=m.survivor_id,
                merged_id=m.merged_id,
                reason=m.reason,
                created_at=m.created_at,
                undone_at=m.undone_at,
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
