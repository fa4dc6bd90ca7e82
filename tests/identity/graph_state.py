"""Reading the identity graph back in a form tests can compare (import from here)."""

from __future__ import annotations

from sqlalchemy import select

from omnicx.core.database import Database
from omnicx.identity.models import Customer, Identifier, IdentityConflict, IdentityLink
from omnicx.identity.service import find_customer_by_identifier
from tests.factories import append_calls, make_source, process

Member = tuple[str, str, str]  # (type, scope, value)
Partition = frozenset[frozenset[Member]]


def partition_of(db: Database) -> Partition:
    """The identifiers grouped by customer: ids left out, so runs can be compared."""
    groups: dict[int | None, set[Member]] = {}
    with db.read() as session:
        rows = session.execute(
            select(Identifier.customer_id, Identifier.type, Identifier.scope, Identifier.value)
        )
        for row in rows:
            groups.setdefault(row.customer_id, set()).add((row.type, row.scope, row.value))
    assert None not in groups, f"identifiers without a customer: {groups[None]}"
    return frozenset(frozenset(g) for g in groups.values())


def live_customer_ids(db: Database) -> set[int]:
    with db.read() as session:
        return set(session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))


def customer_of(db: Database, kind: str, value: str, scope: str = "") -> int:
    """The live customer holding an identifier (raw value), as the lookup API finds it."""
    with db.read() as session:
        return find_customer_by_identifier(session, kind, value, scope)


def open_conflict_links(db: Database) -> set[frozenset[Member]]:
    """The pairs of identifiers behind each open conflict of the review queue."""
    out: set[frozenset[Member]] = set()
    with db.read() as session:
        rows = session.execute(
            select(IdentityLink.a_id, IdentityLink.b_id)
            .join(IdentityConflict, IdentityConflict.link_id == IdentityLink.id)
            .where(IdentityConflict.status == "open")
        )
        for a_id, b_id in rows.all():
            pair = session.execute(
                select(Identifier.type, Identifier.scope, Identifier.value).where(
                    Identifier.id.in_([a_id, b_id])
                )
            )
            out.add(frozenset((r.type, r.scope, r.value) for r in pair))
    return out


def feed(db, calls, *, one_by_one: bool) -> None:
    """Append and process calls as one batch, or each in its own batch."""
    source_id, _ = make_source(db)
    if one_by_one:
        for c in calls:
            append_calls(db, source_id, [c])
            process(db)
    else:
        append_calls(db, source_id, calls)
        process(db)
