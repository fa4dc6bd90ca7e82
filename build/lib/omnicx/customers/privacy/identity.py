"""The identity graph around the person: customers, identifiers, links, merge history.

Identifiers, links and open conflicts hold values or point at them, so they are
deleted; merge history (ids only) and link blocks (blind indexes only) are the record
that keeps the graph consistent, so they stay with any free-text reason blanked.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, or_, select, update
from sqlalchemy.orm import Session

from omnicx.core.database import table_of
from omnicx.core.serialization import loads
from omnicx.core.time import utcnow
from omnicx.customers.privacy.person import ERASED, identifier_ids, in_chunks, iso
from omnicx.governance.privacy import Erasure, Progress, Subject
from omnicx.identity.models import (
    Customer,
    Identifier,
    IdentityConflict,
    IdentityLink,
    LinkBlock,
    Merge,
    Unmerge,
)


class IdentityHandler:
    """Identifiers, links and open conflicts are deleted; merge history (ids only) and
    link blocks (blind indexes only) stay, with any free-text reason blanked."""

    name = "identity"

    def export(self, session: Session, subject: Subject, progress: Progress) -> dict[str, Any]:
        ids = subject.customer_ids
        identifiers = list(
            session.scalars(
                select(Identifier).where(Identifier.customer_id.in_(ids)).order_by(Identifier.id)
            )
        )
        own = {i.id for i in identifiers}
        links = list(
            session.scalars(
                select(IdentityLink).where(
                    or_(IdentityLink.a_id.in_(own), IdentityLink.b_id.in_(own))
                )
            )
        )
        conflicts = session.scalars(
            select(IdentityConflict).where(
                IdentityConflict.link_id.in_([link.id for link in links]),
                IdentityConflict.status == "open",
            )
        )
        return {
            "customers": [
                {
                    "id": c.id,
                    "merged_into_id": c.merged_into_id,
                    "created_at": iso(c.created_at),
                    "erased_at": iso(c.erased_at),
                }
                for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))
            ],
            "identifiers": [
                {
                    "id": i.id,
                    "customer_id": i.customer_id,
                    "type": i.type,
                    "scope": i.scope,
                    "value": i.value,
                    "first_seen_at": iso(i.first_seen_at),
                }
                for i in identifiers
            ],
            # The other end of a link to someone else is named by id only.
            "links": [
                {
                    "a_id": link.a_id,
                    "b_id": link.b_id,
                    "rule": link.rule,
                    "confidence": link.confidence,
                    "observed_at": iso(link.observed_at),
                    "active": link.active,
                }
                for link in links
            ],
            "merges": [
                {
                    "id": m.id,
                    "survivor_id": m.survivor_id,
                    "merged_id": m.merged_id,
                    "reason": m.reason,
                    "created_at": iso(m.created_at),
                    "undone_at": iso(m.undone_at),
                }
                for m in session.scalars(
                    select(Merge)
                    .where(or_(Merge.survivor_id.in_(ids), Merge.merged_id.in_(ids)))
                    .order_by(Merge.id)
                )
            ],
            "unmerges": [
                {
                    "id": u.id,
                    "customer_id": u.customer_id,
                    "new_customer_ids": loads(u.new_customer_ids),
                    "reason": u.reason,
                    "created_at": iso(u.created_at),
                }
                for u in session.scalars(select(Unmerge).where(Unmerge.customer_id.in_(ids)))
            ],
            "open_conflicts": [
                {
                    "id": c.id,
                    "link_id": c.link_id,
                    "reason": c.reason,
                    "created_at": iso(c.created_at),
                }
                for c in conflicts
            ],
        }

    def erase(self, session: Session, erasure: Erasure) -> None:
        subject = erasure.subject
        ids = identifier_ids(session, subject.customer_ids)
        conflicts = links = identifiers = 0
        for part in in_chunks(ids):
            touching = or_(IdentityLink.a_id.in_(part), IdentityLink.b_id.in_(part))
            link_ids = list(session.scalars(select(IdentityLink.id).where(touching)))
            for group in in_chunks(link_ids):
                conflicts += _deleted(
                    session, table_of(IdentityConflict), IdentityConflict.link_id.in_(group)
                )
            links += _deleted(session, table_of(IdentityLink), touching)
        for part in in_chunks(ids):
            identifiers += _deleted(session, table_of(Identifier), Identifier.id.in_(part))
        for part in in_chunks(subject.key_hashes):
            session.execute(
                update(LinkBlock)
                .where(or_(LinkBlock.a_hash.in_(part), LinkBlock.b_hash.in_(part)))
                .values(reason=ERASED)
            )
        session.execute(
            update(Unmerge)
            .where(Unmerge.customer_id.in_(subject.customer_ids))
            .values(reason=ERASED)
        )
        session.execute(
            update(Customer)
            .where(Customer.id.in_(subject.customer_ids), Customer.erased_at.is_(None))
            .values(erased_at=utcnow())
        )
        erasure.count("identity_conflicts", conflicts)
        erasure.count("identity_links", links)
        erasure.count("identifiers", identifiers)
        erasure.touched_tables |= {"identity_conflicts", "identity_links", "identifiers"}


def _deleted(session: Session, table: Table, where: Any) -> int:
    return cast(CursorResult[Any], session.execute(delete(table).where(where))).rowcount
