"""Reading customers: the 360 view in one read, the paginated timeline, and revealing a
masked field. Every read takes the reader's principal and returns what its role may see
(``governance.access``); the boundary commits the read's audit entry
(``customer_view_entry``) before it answers.
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements
from omnicx.core.errors import InvalidInput, NotFound
from omnicx.core.eventlog.codec import decode_payload
from omnicx.core.i18n import msg
from omnicx.core.serialization import loads
from omnicx.core.time import as_datetime, as_utc, parse_timestamp
from omnicx.customers.profiles import decode_traits
from omnicx.customers.schemas import (
    AccessOut,
    Customer360,
    FieldAccess,
    IdentifierOut,
    MergeOut,
    OrderEvent,
    OrderOut,
    TimelineItem,
    TimelinePage,
)
from omnicx.governance import audit
from omnicx.governance.access import (
    RoleView,
    Shown,
    check_reveal,
    record_reveal,
    view_entry,
    view_for,
)
from omnicx.governance.policies import FieldClass
from omnicx.governance.service import Principal
from omnicx.identity.service import current_customer_id, identifiers_of, merges_of

RECENT_EVENTS = 20
ORDER_EVENTS_READ = 500  # order events read per 360 (the newest); bounds a heavy buyer's cost


def _properties(payload: str) -> tuple[str, dict[str, Any]]:
    """(namespace, properties) of a stored payload: an identify call shows its traits."""
    data = decode_payload(payload)
    if data.get("type") == "identify":
        traits = data.get("traits")
        return "traits", traits if isinstance(traits, dict) else {}
    props = data.get("properties")
    return "properties", props if isinstance(props, dict) else {}


# The last column says whether the row is an order event (see ORDER_ROWS below).
TIMELINE = (
    "SELECT t.event_seq, t.occurred_at, t.type, t.name, t.channel, t.source_id, e.payload,"
    " t.order_id, CASE WHEN t.type = 'track' AND t.name LIKE ? THEN 1 ELSE 0 END"
    " FROM customer_timeline t JOIN events e ON e.seq = t.event_seq WHERE t.customer_id = ?"
)
NEWEST_FIRST = " ORDER BY t.occurred_at DESC, t.event_seq DESC LIMIT ?"
OLDER_THAN = " AND (t.occurred_at < ? OR (t.occurred_at = ? AND t.event_seq < ?))"

OrderKey = str | int  # an order id, or the seq of an id-less order's one event


def _order_key(row: tuple[Any, ...]) -> OrderKey | None:
    """The order a timeline row is about: its order id, or its own seq for an order
    event without one; None when it is about no order."""
    seq, order_id, is_order = row[0], row[7], row[8]
    if order_id is not None:
        return str(order_id)
    return int(seq) if is_order else None


def _item(view: RoleView, row: tuple[Any, ...], withheld: bool) -> TimelineItem:
    seq, occurred_at, kind, name, channel, source_id, payload = row[:7]
    item = TimelineItem(
        seq=seq,
        occurred_at=as_datetime(occurred_at),
        type=kind,
        name=view.text(name) if name else name,
        channel=channel,
        source_id=source_id,
    )
    if withheld:
        # An order beyond the role's limit: that it happened, not which order or its total.
        item.withheld = True
        return item
    namespace, properties = _properties(payload)
    item.properties = view.properties(properties, namespace)
    return item


def _timeline(
    session: Session,
    view: RoleView,
    customer_id: int,
    limit: int,
    before: tuple[datetime, int] | None = None,
    visible_orders: Collection[OrderKey] | None = None,
) -> list[TimelineItem]:
    """Timeline items, newest first; events about an order the role may not see
    (``view.orders_limit``) are withheld. ``visible_orders``: those the caller already
    picked (else they are read here, when a row needs them)."""
    raw = RawStatements(session)
    if before is None:
        rows = raw.select(TIMELINE + NEWEST_FIRST, (ORDER_NAMES, customer_id, limit))
    else:
        at, seq = raw.time(before[0]), before[1]
        rows = raw.select(
            TIMELINE + OLDER_THAN + NEWEST_FIRST, (ORDER_NAMES, customer_id, at, at, seq, limit)
        )
    keys = [_order_key(row) for row in rows]
    if view.orders_limit is None or all(key is None for key in keys):
        return [_item(view, row, withheld=False) for row in rows]
    if visible_orders is None:
        visible_orders = {key for key, _ in _newest_orders(raw, customer_id, view.orders_limit)}
    return [
        _item(view, row, withheld=key is not None and key not in visible_orders)
        for row, key in zip(rows, keys, strict=True)
    ]


def _oldest_reachable(
    session: Session, customer_id: int, reach: int
) -> tuple[datetime, int] | None:
    """The ``reach``-th newest timeline entry: a limited role sees nothing older."""
    rows = RawStatements(session).select(
        "SELECT occurred_at, event_seq FROM customer_timeline WHERE customer_id = ?"
        " ORDER BY occurred_at DESC, event_seq DESC LIMIT 1 OFFSET ?",
        (customer_id, reach - 1),
    )
    return (as_datetime(rows[0][0]), int(rows[0][1])) if rows else None


# A customer's orders are their "Order …" track events grouped by order id (an event
# without one is an order of its own). The orders are picked from the timeline alone;
# only the payloads of the orders shown are read and decrypted.
ORDER_ROWS = (
    " FROM customer_timeline t WHERE t.customer_id = ? AND t.type = 'track' AND t.name LIKE ?"
)
ORDER_KEY = "t.order_id, CASE WHEN t.order_id IS NULL THEN t.event_seq END"
# An order was placed when it completed (the newest completion), else at its first event.
ORDERS = (
    f"SELECT {ORDER_KEY}, COUNT(*), COALESCE(MAX(CASE WHEN t.name = 'Order Completed'"
    " THEN t.occurred_at END), MIN(t.occurred_at)) AS placed_at, MAX(t.occurred_at) AS latest"
    f"{ORDER_ROWS} GROUP BY {ORDER_KEY} ORDER BY placed_at DESC, latest DESC"
)
ORDERS_TOTAL = f"SELECT COUNT(*) FROM (SELECT 1{ORDER_ROWS} GROUP BY {ORDER_KEY}) o"
ORDER_EVENTS = (
    "SELECT t.event_seq, t.occurred_at, t.name, t.order_id, e.payload FROM customer_timeline t"
    " JOIN events e ON e.seq = t.event_seq WHERE t.customer_id = ? AND t.type = 'track'"
    " AND t.name LIKE ? AND ({picked}) ORDER BY t.occurred_at DESC, t.event_seq DESC"
)
ORDER_NAMES = "Order %"  # a parameter: a literal % would be a placeholder to psycopg


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _newest_orders(
    raw: RawStatements, customer_id: int, limit: int | None
) -> list[tuple[OrderKey, int]]:
    """The newest ``limit`` orders (None: all), each (key, how many events it has)."""
    if limit == 0:
        return []
    sql = ORDERS if limit is None else ORDERS + " LIMIT ?"
    params: tuple[Any, ...] = (customer_id, ORDER_NAMES)
    return [
        (order_id if order_id is not None else int(lone_seq), int(count))
        for order_id, lone_seq, count, *_ in raw.select(
            sql, params if limit is None else (*params, limit)
        )
    ]


def _picked_orders(newest: list[tuple[OrderKey, int]]) -> list[OrderKey]:
    """Of the orders the role may see, those whose events fit in ORDER_EVENTS_READ
    (the first order always)."""
    picked: list[OrderKey] = []
    events = 0
    for key, count in newest:
        events += count
        if picked and events > ORDER_EVENTS_READ:
            break
        picked.append(key)
    return picked


def _orders(
    session: Session, view: RoleView, customer_id: int
) -> tuple[list[OrderOut], int, set[OrderKey]]:
    """The customer's orders from their e-commerce events, newest first, as many as the
    role may see; how many there are; and the keys of every order the role may see."""
    raw = RawStatements(session)
    newest = _newest_orders(raw, customer_id, view.orders_limit)
    visible = {key for key, _ in newest}
    picked = _picked_orders(newest)
    if not picked:
        return [], 0, visible
    total = int(raw.select(ORDERS_TOTAL, (customer_id, ORDER_NAMES))[0][0])
    ids = [key for key in picked if isinstance(key, str)]
    seqs = [key for key in picked if isinstance(key, int)]
    conditions = []
    if ids:
        conditions.append(f"t.order_id IN ({','.join('?' * len(ids))})")
    if seqs:
        conditions.append(f"t.event_seq IN ({','.join('?' * len(seqs))})")
    rows = raw.select(
        ORDER_EVENTS.format(picked=" OR ".join(conditions)),
        (customer_id, ORDER_NAMES, *ids, *seqs),
    )
    grouped: dict[str | int, list[tuple[int, datetime, str, dict[str, Any]]]] = {}
    for seq, occurred_at, name, order_id, payload in rows:  # newest first
        _, properties = _properties(payload)
        key = order_id if order_id is not None else seq
        grouped.setdefault(key, []).append((seq, as_datetime(occurred_at), name, properties))
    orders: list[OrderOut] = []
    for key in picked:
        events = grouped.get(key)
        if not events:  # its events went (retention) between the two reads
            continue
        placed = next((e for e in events if e[2] == "Order Completed"), events[-1])
        details = placed[3]
        orders.append(
            OrderOut(
                order_id=view.text(key) if isinstance(key, str) else None,
                status=events[0][2],
                placed_at=placed[1],
                total=_number(details.get("total", details.get("revenue"))),
                currency=details.get("currency")
                if isinstance(details.get("currency"), str)
                else None,
                products=[
                    view.properties(p) for p in details.get("products") or [] if isinstance(p, dict)
                ],
                events=[
                    OrderEvent(seq=s, name=n, occurred_at=at, properties=view.properties(props))
                    for s, at, n, props in events
                ],
            )
        )
    return orders, total, visible


def _access(view: RoleView, shown: list[Shown]) -> AccessOut:
    return AccessOut(
        role=view.role,
        fields=[
            FieldAccess(
                field=s.field,
                field_class=s.field_class.value,
                display=s.display.value,
                revealable=s.revealable,
            )
            for s in shown
        ],
        orders_limit=view.orders_limit,
        timeline_limit=view.timeline_limit,
    )


def customer_360(session: Session, principal: Principal, requested_id: int) -> Customer360:
    """Everything ``principal``'s role may see about a customer, following merges to the
    survivor. The agent's screen-pop: a handful of indexed reads on the raw path. Does
    not audit: the caller commits ``customer_view_entry`` before answering."""
    view = view_for(session, principal)
    customer_id = current_customer_id(session, requested_id)
    rows = RawStatements(session).select(
        "SELECT c.created_at, p.traits, p.channels, p.event_count, p.first_seen_at,"
        " p.last_seen_at, c.erased_at FROM customers c LEFT JOIN customer_profiles p"
        " ON p.customer_id = c.id WHERE c.id = ?",
        (customer_id,),
    )
    if not rows:
        raise NotFound(msg("no customer {requested_id}", requested_id=requested_id), field="id")
    created_at, traits, channels, event_count, first_seen, last_seen, erased_at = rows[0]
    shown_traits, shown = view.traits(decode_traits(traits))
    identifiers = []
    for found in identifiers_of(session, customer_id):
        value, how = view.identifier(found.id, found.type, found.value)
        shown.append(how)
        identifiers.append(
            IdentifierOut(
                id=found.id,
                type=found.type,
                scope=found.scope,
                value=value,
                display=how.display.value,
            )
        )
    recent = (
        RECENT_EVENTS if view.timeline_limit is None else min(RECENT_EVENTS, view.timeline_limit)
    )
    orders, orders_total, visible_orders = _orders(session, view, customer_id)
    protected = [s for s in shown if s.field_class is not FieldClass.PUBLIC]
    result = Customer360(
        id=customer_id,
        requested_id=requested_id,
        created_at=as_datetime(created_at),
        traits=shown_traits,
        identifiers=identifiers,
        channels=loads(channels) if channels else [],
        event_count=event_count or 0,
        first_seen_at=as_datetime(first_seen) if first_seen else None,
        last_seen_at=as_datetime(last_seen) if last_seen else None,
        recent_events=_timeline(session, view, customer_id, recent, visible_orders=visible_orders)
        if recent
        else [],
        orders=orders,
        orders_total=orders_total,
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
        access=_access(view, protected),
        erased_at=as_datetime(erased_at) if erased_at else None,
    )
    result._shown = protected
    return result


def customer_view_entry(
    principal: Principal, view: Customer360, *, via: str, ip: str | None = None
) -> audit.Draft:
    """The audit entry of a 360 read (``customer.view``) with the fields it showed
    unmasked; the boundary commits it (``audit.commit_entry``) before answering."""
    return view_entry(principal, view.id, via=via, shown=view._shown, ip=ip)


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
    session: Session, principal: Principal, requested_id: int, limit: int, cursor: str | None
) -> TimelinePage:
    """A page of the timeline, newest first, masked for the role; a role with a
    timeline limit reaches only that many newest items, whatever the cursor says."""
    view = view_for(session, principal)
    customer_id = current_customer_id(session, requested_id)
    before = decode_cursor(cursor) if cursor else None
    reach = view.timeline_limit
    if reach == 0:
        return TimelinePage(customer_id=customer_id, items=[], limited_to=0)
    items = _timeline(session, view, customer_id, limit + 1, before)
    if reach is not None and items:
        oldest = _oldest_reachable(session, customer_id, reach)
        if oldest is not None:
            floor = (as_utc(oldest[0]), oldest[1])
            items = [i for i in items if (as_utc(i.occurred_at), i.seq) >= floor]
    more = len(items) > limit
    items = items[:limit]
    return TimelinePage(
        customer_id=customer_id,
        items=items,
        next_cursor=encode_cursor(items[-1]) if more and items else None,
        limited_to=reach,
    )


def _plain_field(session: Session, customer_id: int, field: str) -> tuple[str, Any]:
    """(kind, stored value) of ``traits.<key>`` or ``identifiers.<id>``. Raises NotFound."""
    kind, _, name = field.partition(".")
    if kind == "traits":
        rows = RawStatements(session).select(
            "SELECT traits FROM customer_profiles WHERE customer_id = ?", (customer_id,)
        )
        traits = decode_traits(rows[0][0]) if rows else {}
        if name not in traits:
            raise NotFound(
                msg(
                    "customer {customer_id} has no trait {name!r}",
                    customer_id=customer_id,
                    name=name,
                ),
                field="field",
            )
        return "traits", traits[name]
    if kind == "identifiers" and name.isdigit():
        for found in identifiers_of(session, customer_id):
            if found.id == int(name):
                return found.type, found.value
        raise NotFound(
            msg(
                "customer {customer_id} has no identifier {name}",
                customer_id=customer_id,
                name=name,
            ),
            field="field",
        )
    raise InvalidInput('field is "traits.<key>" or "identifiers.<id>"', field="field")


def reveal(
    session: Session,
    principal: Principal,
    requested_id: int,
    field: str,
    reason: str,
    *,
    ip: str | None = None,
) -> tuple[int, Any]:
    """The plain value of one masked field, if the role may reveal its class; audited
    as ``customer.reveal`` (field name and reason, never the value) in this transaction.
    Returns (customer id, value)."""
    view = view_for(session, principal)
    customer_id = current_customer_id(session, requested_id)
    kind, value = _plain_field(session, customer_id, field)
    if kind == "traits":
        field_class = view.field_class_of_trait(field.partition(".")[2], value)
    else:
        field_class = view.classifier.identifier(kind).field_class
    check_reveal(principal, view, field, field_class)
    record_reveal(
        session, principal, customer_id, field=field, field_class=field_class, reason=reason, ip=ip
    )
    return customer_id, value


def customer_traits(session: Session, customer_id: int) -> dict[str, Any]:
    """A customer's traits in plain, for rules that decide on them (the desk's routing:
    a ``tags`` trait, a loyalty tier). Never shown to a person: readers use
    ``customer_360``. Follows merges; an unknown customer has none."""
    try:
        survivor = current_customer_id(session, customer_id)
    except NotFound:
        return {}
    rows = RawStatements(session).select(
        "SELECT traits FROM customer_profiles WHERE customer_id = ?", (survivor,)
    )
    return decode_traits(rows[0][0]) if rows else {}


def customers_traits(session: Session, customer_ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """Several customers' traits in plain, in one read (customers merged away have none:
    the desk moves their conversations to the survivor). For lists that show customers
    through a ``RoleView``; never shown as they are."""
    rows = RawStatements(session).select_in(
        "SELECT customer_id, traits FROM customer_profiles WHERE customer_id IN ({in})",
        sorted(set(customer_ids)),
    )
    return {int(customer_id): decode_traits(traits) for customer_id, traits in rows}


def event_owners(session: Session, seqs: Collection[int]) -> dict[int, int]:
    """The customer whose timeline holds each event (events no customer owns are left out)."""
    rows = RawStatements(session).select_in(
        "SELECT event_seq, customer_id FROM customer_timeline WHERE event_seq IN ({in})",
        sorted(set(seqs)),
    )
    return {int(seq): int(customer_id) for seq, customer_id in rows}
