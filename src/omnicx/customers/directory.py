"""The customer list: newest activity first, filtered, paged, and searchable by any
identifier or by name — each row masked for the reader's role.

A search (``q``) answers, on its first page, the customers holding that identifier
exactly (an email, a phone in any common notation, a user id, an anonymous id), then
those whose name has every term of it (``customers.search``), newest customer first and
paged on the customer id. A plain list pages on (last seen, id). The filters hold for
both.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput, NotFound
from omnicx.core.serialization import loads
from omnicx.core.time import as_utc
from omnicx.customers.models import CustomerNameTerm, CustomerProfile
from omnicx.customers.schemas import CustomerPage, CustomerSummary
from omnicx.customers.search import NAME_TRAITS, customers_named, name_matches, name_of
from omnicx.governance import audit
from omnicx.governance.access import RoleView, Shown, unmasked_fields, view_for
from omnicx.governance.service import Principal
from omnicx.identity.service import (
    current_customer_ids,
    erased_among,
    find_customer_by_identifier,
)

PHONE_LIKE = re.compile(r"\+?[\d\s\-().]{5,30}")
# The identifier types a bare query is tried as, by its shape.
EMAIL_TYPES: tuple[str, ...] = ("email",)
PHONE_TYPES: tuple[str, ...] = ("phone", "user_id")
OTHER_TYPES: tuple[str, ...] = ("user_id", "anonymous_id")


@dataclass(frozen=True)
class Filters:
    channel: str | None = None
    seen_after: datetime | None = None
    seen_before: datetime | None = None


def list_customers(
    session: Session,
    principal: Principal,
    *,
    q: str | None = None,
    filters: Filters = Filters(),
    cursor: str | None = None,
    limit: int = 50,
    ip: str | None = None,
) -> tuple[CustomerPage, audit.Draft]:
    """A page of customers for ``principal``, and the audit entry to commit before it is
    shown (``customers.list``: how many rows, whether it was a search; never the query,
    which may be a phone number or a name)."""
    view = view_for(session, principal)
    searching = bool(q and q.strip())
    if q is not None and searching:
        found, next_cursor = _search_page(session, q.strip(), filters, cursor, limit)
    else:
        found, next_cursor = _list_page(session, filters, cursor, limit)
    items = [_summary(view, row, matched_by) for row, matched_by in found]
    entry = list_entry(
        principal,
        rows=len(items),
        search=searching,
        shown=[s for _, item_shown in items for s in item_shown],
        ip=ip,
    )
    return CustomerPage(items=[summary for summary, _ in items], next_cursor=next_cursor), entry


def list_entry(
    principal: Principal,
    *,
    rows: int,
    shown: Sequence[Shown],
    search: bool = False,
    via: str | None = None,
    ip: str | None = None,
) -> audit.Draft:
    """The audit entry of a list that shows customers (``customers.list``): how many rows,
    whether it was a search, which protected fields were shown unmasked (names only) and,
    for a list other than this one, where (``via``)."""
    detail: dict[str, Any] = {
        "rows": rows,
        "search": search,
        "unmasked": sorted(set(unmasked_fields(shown)))[:50],
    }
    if via is not None:
        detail["via"] = via
    return audit.draft(principal, "customers.list", target_type="customer", detail=detail, ip=ip)


Found = list[tuple[CustomerProfile, str | None]]


def _list_page(
    session: Session, filters: Filters, cursor: str | None, limit: int
) -> tuple[Found, str | None]:
    stmt = _filtered(select(CustomerProfile), filters)
    if cursor:
        seen, last_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                CustomerProfile.last_seen_at < seen,
                and_(CustomerProfile.last_seen_at == seen, CustomerProfile.customer_id < last_id),
            )
        )
    stmt = stmt.order_by(
        CustomerProfile.last_seen_at.desc(), CustomerProfile.customer_id.desc()
    ).limit(limit + 1)
    fetched = list(session.scalars(stmt))
    page = fetched[:limit]
    # The cursor follows the page as read: erased customers are left out of it, not
    # of the paging (a page of only erased customers still leads on).
    next_cursor = encode_cursor(page[-1]) if len(fetched) > limit else None
    erased = erased_among(session, [r.customer_id for r in page])
    return [(row, None) for row in page if row.customer_id not in erased], next_cursor


def _search_page(
    session: Session, q: str, filters: Filters, cursor: str | None, limit: int
) -> tuple[Found, str | None]:
    """Identifier matches (first page only), then a page of name matches."""
    held = customers_with_identifier(session, q)
    first = cursor is None
    try:
        stmt = name_matches(q)
    except InvalidInput:
        if held:
            stmt = None  # an identifier matched: a name search was not what was meant
        else:
            raise
    shown = _profiles(session, held, filters) if first else []
    room = max(limit - len(shown), 0)
    named: list[int] = []
    if stmt is not None:
        stmt = _filtered(
            stmt.join(CustomerProfile, CustomerProfile.customer_id == CustomerNameTerm.customer_id),
            filters,
        )
        if held:
            stmt = stmt.where(CustomerNameTerm.customer_id.not_in(held))
        before = None if first else decode_name_cursor(cursor or "")
        if before is not None:
            stmt = stmt.where(CustomerNameTerm.customer_id < before)
        stmt = stmt.order_by(CustomerNameTerm.customer_id.desc()).limit(room + 1)
        named = [int(r[0]) for r in session.execute(stmt)]
    more = len(named) > room
    named = named[:room]
    next_cursor = encode_name_cursor(named[-1] if named else None) if more else None
    found: Found = [(row, "identifier") for row in shown]
    found += [(row, "name") for row in _profiles(session, named, Filters())]
    erased = erased_among(session, [row.customer_id for row, _ in found])
    return [(row, how) for row, how in found if row.customer_id not in erased], next_cursor


def customers_with_identifier(session: Session, q: str) -> list[int]:
    """The customers holding ``q`` as an identifier, trying the types its shape allows
    (an email; a phone in any notation or a user id; a user id or an anonymous id)."""
    if "@" in q:
        kinds = EMAIL_TYPES
    elif PHONE_LIKE.fullmatch(q):
        kinds = PHONE_TYPES
    else:
        kinds = OTHER_TYPES
    found: dict[int, None] = {}
    for kind in kinds:
        try:
            found.setdefault(find_customer_by_identifier(session, kind, q), None)
        except (NotFound, InvalidInput):
            continue  # not this kind of identifier, or nobody holds it
    erased = erased_among(session, list(found))
    return [c for c in found if c not in erased]


def matching_customers(session: Session, q: str, limit: int) -> list[int]:
    """The customers a search box means (the identifier's holders, then names with every
    term of ``q``, newest first), at most ``limit``: for other lists' customer filters.
    Raises InvalidInput as ``customers.search.name_matches`` does when nothing matched."""
    held = customers_with_identifier(session, q)
    try:
        named = customers_named(session, q, limit)
    except InvalidInput:
        if not held:
            raise
        named = []
    return list(dict.fromkeys(held + named))[:limit]


def customer_names(
    session: Session, view: RoleView, customer_ids: Sequence[int]
) -> tuple[dict[int, str | None], list[Shown]]:
    """Each customer's name as ``view``'s role sees it (merges followed; None when there
    is none), and how the names were shown, for the caller's ``list_entry``. A handful of
    queries for a whole page of rows."""
    survivors = current_customer_ids(session, list(customer_ids))
    rows = session.scalars(
        select(CustomerProfile).where(CustomerProfile.customer_id.in_(set(survivors.values())))
    )
    summaries = {row.customer_id: _summary(view, row, None) for row in rows}
    names: dict[int, str | None] = {}
    for asked, survivor in survivors.items():
        summary = summaries.get(survivor)
        names[asked] = summary[0].name if summary else None
    return names, [s for _, row_shown in summaries.values() for s in row_shown]


def _filtered(stmt: Select[Any], filters: Filters) -> Select[Any]:
    if filters.channel:
        # channels is a JSON list of short names: match the quoted name
        stmt = stmt.where(CustomerProfile.channels.contains(f'"{filters.channel.lower()}"'))
    if filters.seen_after:
        stmt = stmt.where(CustomerProfile.last_seen_at >= as_utc(filters.seen_after))
    if filters.seen_before:
        stmt = stmt.where(CustomerProfile.last_seen_at < as_utc(filters.seen_before))
    return stmt


def _profiles(session: Session, ids: list[int], filters: Filters) -> list[CustomerProfile]:
    if not ids:
        return []
    rows = session.scalars(
        _filtered(select(CustomerProfile), filters).where(CustomerProfile.customer_id.in_(ids))
    )
    by_id = {r.customer_id: r for r in rows}
    return [by_id[c] for c in ids if c in by_id]  # in the order the search ranked them


def masked_name(view: RoleView, traits: dict[str, Any]) -> tuple[str | None, list[Shown]]:
    """A customer's name as ``view``'s role may see it (None without one), and how it was
    shown (for the audit entry)."""
    masked, shown = view.traits({k: traits[k] for k in NAME_TRAITS if k in traits})
    return name_of(masked) or None, shown


def _summary(
    view: RoleView, row: CustomerProfile, matched_by: str | None
) -> tuple[CustomerSummary, list[Shown]]:
    """The row as the role sees it, and how its name was shown (for the audit entry)."""
    # ORM reads of the encrypted column see the JSON text (see models.CustomerProfile).
    name, shown = masked_name(view, loads(row.traits) if row.traits else {})
    return (
        CustomerSummary(
            id=row.customer_id,
            name=name,
            channels=loads(row.channels),
            event_count=row.event_count,
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
            matched_by=matched_by,
        ),
        shown,
    )


def encode_cursor(row: CustomerProfile) -> str:
    seen = as_utc(row.last_seen_at).isoformat() if row.last_seen_at else ""
    return base64.urlsafe_b64encode(f"{seen}|{row.customer_id}".encode()).decode()


def encode_name_cursor(last_id: int | None) -> str:
    """Where the next page of name matches starts (below ``last_id``; None: at the top,
    when the first page held only identifier matches)."""
    marker = f"name|{last_id if last_id is not None else ''}"
    return base64.urlsafe_b64encode(marker.encode()).decode()


def decode_name_cursor(cursor: str) -> int | None:
    """Raises InvalidInput for a cursor a search did not hand out."""
    try:
        kind, _, last_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        if kind != "name":
            raise ValueError(kind)
        return int(last_id) if last_id else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("not a cursor of this search", field="cursor") from exc


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Raises InvalidInput for a cursor this list did not hand out."""
    try:
        seen, _, customer_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return as_utc(datetime.fromisoformat(seen)), int(customer_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("not a cursor of this list", field="cursor") from exc
