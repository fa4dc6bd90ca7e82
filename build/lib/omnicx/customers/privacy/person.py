"""Who the person is: the surviving customer, every customer merged into it, their
identifiers and the events on their timeline, read from the identity graph.

Ids are read in chunks of ``CHUNK`` so that ``IN`` lists stay within the databases'
bound-parameter limits however many identities a person has gathered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from omnicx.core.time import as_utc
from omnicx.customers.models import TimelineEntry
from omnicx.governance.privacy import Subject, SubjectIdentifier
from omnicx.identity.batch_state import lock_key
from omnicx.identity.models import Customer, Identifier
from omnicx.identity.service import (
    current_customer_id,
    find_customer_by_identifier,
    identifier_hash,
)

CHUNK = 500
# What erased free text and redacted payloads say instead.
ERASED = "erased"


def in_chunks(values: Iterable[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    """The distinct values, sorted, in lists of at most ``size``."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def iso(value: Any) -> str | None:
    return None if value is None else as_utc(value).isoformat()


class IdentityGraphLocator:
    """The person = the surviving customer and every customer merged into it."""

    def identifier_key(self, kind: str, value: str, scope: str) -> tuple[str, bytes]:
        canonical, _, key = identifier_hash(kind, value, scope)
        return canonical, key

    def customer_by_identifier(self, session: Session, kind: str, value: str, scope: str) -> int:
        return find_customer_by_identifier(session, kind, value, scope)

    def subject(self, session: Session, customer_id: int, *, for_erasure: bool) -> Subject:
        survivor = current_customer_id(session, customer_id)
        customer_ids = merged_family(session, survivor)
        identifiers = self._identifiers(session, customer_ids)
        if for_erasure and session.get_bind().dialect.name == "postgresql":
            identifiers = self._lock(session, customer_ids, identifiers)
        seqs: list[int] = []
        for part in in_chunks(customer_ids):
            seqs.extend(
                session.scalars(
                    select(TimelineEntry.event_seq).where(TimelineEntry.customer_id.in_(part))
                )
            )
        return Subject(
            customer_id=survivor,
            customer_ids=tuple(sorted(customer_ids)),
            identifiers=tuple(identifiers),
            event_seqs=tuple(sorted(seqs)),
        )

    def _identifiers(self, session: Session, customer_ids: set[int]) -> list[SubjectIdentifier]:
        found: list[SubjectIdentifier] = []
        for part in in_chunks(customer_ids):
            rows = session.execute(
                select(Identifier.type, Identifier.key_hash).where(Identifier.customer_id.in_(part))
            )
            found.extend(SubjectIdentifier(r.type, bytes(r.key_hash)) for r in rows)
        return sorted(found, key=lambda i: i.key_hash)

    def _lock(
        self, session: Session, customer_ids: set[int], identifiers: list[SubjectIdentifier]
    ) -> list[SubjectIdentifier]:
        """Take the resolver's advisory locks on the person's identifiers, until no
        concurrent batch has added one meanwhile; then the customer rows."""
        locked: set[int] = set()
        while True:
            keys = sorted({lock_key(i.key_hash) for i in identifiers} - locked)
            if not keys:
                break
            session.execute(
                text(
                    "SELECT pg_advisory_xact_lock(k) FROM "
                    "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS ordered"
                ),
                {"keys": keys},
            )
            locked.update(keys)
            identifiers = self._identifiers(session, customer_ids)
        session.execute(
            select(Customer.id)
            .where(Customer.id.in_(sorted(customer_ids)))
            .order_by(Customer.id)
            .with_for_update()
        )
        return identifiers


def merged_family(session: Session, survivor: int) -> set[int]:
    """The survivor and every customer whose ``merged_into_id`` chain leads to it."""
    family, frontier = {survivor}, {survivor}
    while frontier:
        found: set[int] = set()
        for part in in_chunks(frontier):
            found.update(
                session.scalars(select(Customer.id).where(Customer.merged_into_id.in_(part)))
            )
        frontier = found - family
        family |= frontier
    return family


def identifier_ids(session: Session, customer_ids: Iterable[int]) -> list[int]:
    """The ids of the identifiers these customers hold."""
    ids: list[int] = []
    for part in in_chunks(customer_ids):
        ids.extend(session.scalars(select(Identifier.id).where(Identifier.customer_id.in_(part))))
    return ids


def customers_of(session: Session, ids: Iterable[int]) -> set[int]:
    """The customers holding these identifier ids."""
    found: set[int] = set()
    for part in in_chunks(ids):
        found.update(
            c
            for c in session.scalars(select(Identifier.customer_id).where(Identifier.id.in_(part)))
            if c is not None
        )
    return found
