"""The customer list: newest activity first, filtered, paged, and searchable by any
identifier or by name — each row masked for the reader's role.

A search (``q``) answers the customers holding that identifier exactly (an email, a
phone in any common notation, a user id, an anonymous id), then those whose name has
every term of it (``customers.search``). A search returns one page; a plain list pages
on (last seen, id).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput, NotFound
from omnicx.core.serialization import loads
from omnicx.core.time import as_utc
from omnicx.customers.models import CustomerProfile
from omnicx.customers.schemas import CustomerPage, CustomerSummary
from omnicx.customers.search import NAME_TRAITS, customers_named, name_of
from omnicx.governance import audit
from omnicx.governance.access import RoleView, Shown, unmasked_fields, view_for
from omnicx.governance.service import Principal
from omnicx.identity.service import erased_among, find_customer_by_identifier

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
    if q is not None and q.strip():
        matches = _search(session, q.strip(), limit)
        rows = _profiles(session, [c for c, _ in matches], filters)
        found = dict(matches)
        items = [_summary(view, row, found[row.customer_id]) for row in rows]
        next_cursor = None
    else:
        stmt = _filtered(select(CustomerProfile), filters)
        if cursor:
            seen, last_id = decode_cursor(cursor)
            stmt = stmt.where(
                or_(
                    CustomerProfile.last_seen_at < seen,
                    and_(
                        CustomerProfile.last_seen_at == seen, CustomerProfile.customer_id < last_id
                    ),
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
        items = [_summary(view, row, None) for row in page if row.customer_id not in erased]
    shown = [s for _, item_shown in items for s in item_shown]
    entry = audit.draft(
        principal,
        "customers.list",
        target_type="customer",
        detail={
            "rows": len(items),
            "search": bool(q and q.strip()),
            "unmasked": sorted(set(unmasked_fields(shown)))[:50],
        },
        ip=ip,
    )
    return CustomerPage(items=[summary for summary, _ in items], next_cursor=next_cursor), entry


def customers_identified(session: Session, q: str) -> list[int]:
    """The customers holding ``q`` as an identifier of a type its shape fits (an e-mail,
    a phone in any common notation, a user id, an anonymous id); none is not an error."""
    if "@" in q:
        kinds = EMAIL_TYPES
    elif PHONE_LIKE.fullmatch(q):
        kinds = PHONE_TYPES
    else:
        kinds = OTHER_TYPES
    found: list[int] = []
    for kind in kinds:
        try:
            customer_id = find_customer_by_identifier(session, kind, q)
        except (NotFound, InvalidInput):
            continue  # not this kind of identifier, or nobody holds it
        if customer_id not in found:
            found.append(customer_id)
    return found


def _search(session: Session, q: str, limit: int) -> list[tuple[int, str]]:
    """(customer id, how it matched), identifier matches first, without repeats."""
    found = dict.fromkeys(customers_identified(session, q), "identifier")
    try:
        named = customers_named(session, q, limit)
    except InvalidInput:
        if found:
            named = []  # an identifier matched: a name search was not what was meant
        else:
            raise
    for customer_id in named:
        found.setdefault(customer_id, "name")
    erased = erased_among(session, list(found))
    return [(c, how) for c, how in found.items() if c not in erased][:limit]


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


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Raises InvalidInput for a cursor this list did not hand out."""
    try:
        seen, _, customer_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return as_utc(datetime.fromisoformat(seen)), int(customer_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("not a cursor of this list", field="cursor") from exc
