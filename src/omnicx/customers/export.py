"""Customers as CSV, masked for the reader's role (the API's ``export.csv`` and the
``omnicx customers export`` command). The boundary audits the export
(``customers.export``, with the row count) before the first row leaves.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.database import Database
from omnicx.core.errors import InvalidInput
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import as_utc
from omnicx.customers.models import CustomerProfile
from omnicx.governance.access import RoleView, record_export, view_for
from omnicx.governance.service import Principal
from omnicx.identity.models import Customer, Identifier
from omnicx.identity.service import current_customer_id

MAX_ROWS = 10_000  # per API call; the command has its own limit
MAX_IDS = 1000
BATCH = 500
COLUMNS = (
    "id",
    "name",
    "email",
    "phone",
    "identifiers",
    "channels",
    "event_count",
    "first_seen_at",
    "last_seen_at",
    "traits",
)


def parse_ids(text: str) -> list[int]:
    """``"1, 2,3"`` → [1, 2, 3]. Raises InvalidInput."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or len(parts) > MAX_IDS or not all(p.isdigit() and len(p) < 19 for p in parts):
        raise InvalidInput(
            msg("ids is 1 to {limit} comma-separated customer ids", limit=MAX_IDS), field="ids"
        )
    return [int(p) for p in parts]


def export_ids(
    session: Session, *, ids: Sequence[int] | None, since: datetime | None, limit: int
) -> list[int]:
    """The customers an export covers: the named ones (merged ids followed) or every
    current customer, seen at or after ``since``, at most ``limit``, by id."""
    if ids is not None:
        chosen = list(dict.fromkeys(current_customer_id(session, i) for i in ids))
        if since is not None:
            seen = set(
                session.scalars(
                    select(CustomerProfile.customer_id).where(
                        CustomerProfile.customer_id.in_(chosen),
                        CustomerProfile.last_seen_at >= as_utc(since),
                    )
                )
            )
            chosen = [i for i in chosen if i in seen]
        return chosen[:limit]
    stmt = (
        select(Customer.id)
        .where(Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))
        .order_by(Customer.id)
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.join(CustomerProfile, CustomerProfile.customer_id == Customer.id).where(
            CustomerProfile.last_seen_at >= as_utc(since)
        )
    return list(session.scalars(stmt))


def open_export(
    database: Database,
    principal: Principal,
    *,
    ids: str | None,
    since: datetime | None,
    limit: int,
    via: str,
    ip: str | None = None,
) -> tuple[RoleView, list[int]]:
    """Choose the customers, then record the export in the audit log before any row is
    written (no record, no export). Returns the reader's view and the ids to write."""
    chosen_ids = parse_ids(ids) if ids is not None else None
    with database.read() as session:
        view = view_for(session, principal)
        chosen = export_ids(session, ids=chosen_ids, since=since, limit=limit)
    filters: dict[str, object] = {
        "ids": len(chosen_ids) if chosen_ids is not None else None,
        "limit": limit,
    }
    if since is not None:
        filters["since"] = since.isoformat()
    with database.write() as session:
        record_export(session, principal, rows=len(chosen), via=via, filters=filters, ip=ip)
    return view, chosen


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else dumps(value)
    return _defused(text)


_PHONE_LIKE = re.compile(r"^[+-][\d\s()*-]+$")


def _defused(text: str) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula; prefix those with
    a quote, except signed numbers and phone numbers (``+86 138****8000``)."""
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in "+-" and not _PHONE_LIKE.match(text)):
        return "'" + text
    return text


def export_rows(session: Session, view: RoleView, ids: Sequence[int]) -> list[list[str]]:
    """One CSV row per customer id, masked for ``view``'s role (one batch of reads)."""
    profiles = {
        p.customer_id: p
        for p in session.scalars(
            select(CustomerProfile).where(CustomerProfile.customer_id.in_(list(ids)))
        )
    }
    identifiers: dict[int, list[str]] = {}
    for customer_id, identifier_id, kind, value in session.execute(
        select(Identifier.customer_id, Identifier.id, Identifier.type, Identifier.value)
        .where(Identifier.customer_id.in_(list(ids)))
        .order_by(Identifier.type, Identifier.id)
    ):
        shown, _ = view.identifier(identifier_id, kind, value)
        if shown is not None and customer_id is not None:
            identifiers.setdefault(customer_id, []).append(f"{kind}:{shown}")
    rows = []
    for customer_id in ids:
        profile = profiles.get(customer_id)
        traits: dict[str, Any] = {}
        if profile is not None and profile.traits:
            loaded = loads(profile.traits)
            traits, _ = view.traits(loaded if isinstance(loaded, dict) else {})
        rows.append(
            [
                str(customer_id),
                _cell(traits.get("name")),
                _cell(traits.get("email")),
                _cell(traits.get("phone")),
                _cell("; ".join(identifiers.get(customer_id, []))),
                _cell(" ".join(loads(profile.channels)) if profile else ""),
                str(profile.event_count if profile else 0),
                as_utc(profile.first_seen_at).isoformat()
                if profile and profile.first_seen_at
                else "",
                as_utc(profile.last_seen_at).isoformat()
                if profile and profile.last_seen_at
                else "",
                _cell(traits),
            ]
        )
    return rows


def _csv(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def csv_stream(
    database: Database,
    view: RoleView,
    ids: Sequence[int],
    progress: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """The header, then the rows in batches, each batch in its own short read;
    ``progress(n)`` hears of each batch of ``n`` customers once its rows are yielded."""
    yield _csv([COLUMNS])
    for start in range(0, len(ids), BATCH):
        part = ids[start : start + BATCH]
        with database.read() as session:
            rows = _csv(export_rows(session, view, part))
        yield rows
        if progress is not None:
            progress(len(part))
