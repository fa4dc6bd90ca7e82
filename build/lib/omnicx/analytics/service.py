"""Aggregates over customers and events, and a pseudonymous customer list.

Nothing here names a person: counts, public traits (through the access layer's public
view, which also masks phones and e-mails in free text) and pseudonymous ids
(``governance.access.pseudonym``) that cannot be turned back into customer ids.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from omnicx.analytics.schemas import (
    DayCount,
    NamedCount,
    Overview,
    PseudonymousCustomer,
    PseudonymousPage,
)
from omnicx.core.crypto import UndecryptableValue, decrypt_text, encrypt_text
from omnicx.core.errors import InvalidInput
from omnicx.core.serialization import loads
from omnicx.core.time import as_utc, utcnow
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.governance.access import pseudonym, public_view
from omnicx.identity.models import Customer, Identifier

TOP_EVENTS = 20
CURSOR_PURPOSE = "analytics.cursor"


def _current() -> ColumnElement[bool]:
    return Customer.merged_into_id.is_(None) & Customer.erased_at.is_(None)


def _utc_day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, in the database's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC text


def overview(session: Session, since: datetime, until: datetime) -> Overview:
    """Customers, events by type / channel / name, and new customers per day."""
    if until <= since:
        raise InvalidInput("the window must end after it starts", field="until")
    customers = session.scalar(select(func.count()).select_from(Customer).where(_current())) or 0
    in_window = TimelineEntry.occurred_at >= since, TimelineEntry.occurred_at < until
    by_type = dict(
        session.execute(
            select(TimelineEntry.type, func.count()).where(*in_window).group_by(TimelineEntry.type)
        ).all()
    )
    by_channel = dict(
        session.execute(
            select(TimelineEntry.channel, func.count())
            .where(*in_window)
            .group_by(TimelineEntry.channel)
        ).all()
    )
    count = func.count().label("n")
    top = session.execute(
        select(TimelineEntry.name, count)
        .where(*in_window, TimelineEntry.name.is_not(None))
        .group_by(TimelineEntry.name)
        .order_by(count.desc(), TimelineEntry.name)
        .limit(TOP_EVENTS)
    ).all()
    view = public_view(session)
    day = _utc_day(session, CustomerProfile.first_seen_at)
    per_day = session.execute(
        select(day, func.count())
        .join(Customer, Customer.id == CustomerProfile.customer_id)
        .where(_current(), CustomerProfile.first_seen_at >= since)
        .where(CustomerProfile.first_seen_at < until)
        .group_by(day)
        .order_by(day)
    ).all()
    return Overview(
        customers=customers,
        since=since,
        until=until,
        events=sum(by_type.values()),
        events_by_type=by_type,
        events_by_channel=by_channel,
        # Event names are the sources' vocabulary; free text in them is still scanned.
        top_events=[NamedCount(name=view.text(str(name)), count=n) for name, n in top],
        new_customers_per_day=[
            DayCount(day=d if isinstance(d, date) else date.fromisoformat(str(d)), customers=n)
            for d, n in per_day
        ],
    )


def default_window(days: int, until: datetime | None) -> tuple[datetime, datetime]:
    try:
        end = as_utc(until) if until else utcnow()
        return end - timedelta(days=days), end
    except OverflowError as exc:  # an end in year 1 has no window (or UTC time) before it
        raise InvalidInput("until is too early for the window", field="until") from exc


def _cursor(last_id: int) -> str:
    # Encrypted: a plain id in the cursor would tie the pseudonym to the customer.
    return encrypt_text(str(last_id), CURSOR_PURPOSE)


def _after(cursor: str) -> int:
    try:
        return int(decrypt_text(cursor, CURSOR_PURPOSE))
    except (UndecryptableValue, ValueError) as exc:
        raise InvalidInput("cursor is not one this API returned", field="cursor") from exc


def pseudonymous_customers(session: Session, limit: int, cursor: str | None) -> PseudonymousPage:
    """Current customers in a stable order, each under its pseudonym, public traits only."""
    stmt = (
        select(Customer.id, CustomerProfile)
        .join(CustomerProfile, CustomerProfile.customer_id == Customer.id, isouter=True)
        .where(_current())
        .order_by(Customer.id)
        .limit(limit + 1)
    )
    if cursor:
        stmt = stmt.where(Customer.id > _after(cursor))
    rows = list(session.execute(stmt).all())
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [customer_id for customer_id, _ in rows]
    kinds: dict[int, dict[str, int]] = {}
    if ids:
        for customer_id, kind, n in session.execute(
            select(Identifier.customer_id, Identifier.type, func.count())
            .where(Identifier.customer_id.in_(ids))
            .group_by(Identifier.customer_id, Identifier.type)
        ).all():
            if customer_id is not None:
                kinds.setdefault(customer_id, {})[kind] = n
    view = public_view(session)
    items = []
    for customer_id, profile in rows:
        traits: dict[str, Any] = {}
        if profile is not None and profile.traits:
            loaded = loads(profile.traits)
            traits, _ = view.traits(loaded if isinstance(loaded, dict) else {})
        items.append(
            PseudonymousCustomer(
                id=pseudonym(customer_id),
                channels=loads(profile.channels) if profile and profile.channels else [],
                event_count=profile.event_count if profile else 0,
                identifier_types=kinds.get(customer_id, {}),
                first_seen_at=as_utc(profile.first_seen_at)
                if profile and profile.first_seen_at
                else None,
                last_seen_at=as_utc(profile.last_seen_at)
                if profile and profile.last_seen_at
                else None,
                traits=traits,
            )
        )
    return PseudonymousPage(items=items, next_cursor=_cursor(ids[-1]) if more and ids else None)
