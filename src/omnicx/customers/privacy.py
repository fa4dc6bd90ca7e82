"""What identity, the customer projection, the event log and the outbox hold about a
person: found, exported and erased for governance's privacy requests.

``runtime.privacy`` registers these in ``governance.privacy.registry`` (governance cannot
import the domains above it). Erasure runs in this order: events (they need the
person's identifiers to find every event that carries them), outbox, profiles, and the
identity graph last.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, or_, select, text, update
from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements, table_of
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.models import DeadLetter, EventRow
from omnicx.core.eventlog.table import read_events
from omnicx.core.outbox import OutboxMessage
from omnicx.core.serialization import dumps, loads
from omnicx.core.settings import get_settings
from omnicx.core.time import as_utc, utcnow
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.customers.profiles import encode_traits
from omnicx.governance.privacy import (
    Erasure,
    PersonalDataHandler,
    Progress,
    Subject,
    SubjectIdentifier,
    is_redacted,
    redact_events,
)
from omnicx.identity.batch_state import lock_key
from omnicx.identity.extract import extract_identifiers
from omnicx.identity.models import (
    Customer,
    Identifier,
    IdentityConflict,
    IdentityLink,
    LinkBlock,
    Merge,
    Unmerge,
)
from omnicx.identity.service import (
    current_customer_id,
    find_customer_by_identifier,
    guardrails,
    identifier_hash,
)

CHUNK = 500
EVENT_CHUNK = 1000
ERASED = "erased"


def _chunks(values: Iterable[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _iso(value: Any) -> str | None:
    return None if value is None else as_utc(value).isoformat()


# -- who the person is ------------------------------------------------------------------------


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
        for part in _chunks(customer_ids):
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
        for part in _chunks(customer_ids):
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
        for part in _chunks(frontier):
            found.update(
                session.scalars(select(Customer.id).where(Customer.merged_into_id.in_(part)))
            )
        frontier = found - family
        family |= frontier
    return family


# -- events -------------------------------------------------------------------------------------


class EventsHandler:
    """Raw events: every payload attributed to the person, and any other event that
    carries one of their identifiers (a guardrail may have put it on someone else's
    timeline, or it failed processing)."""

    name = "events"

    def export(
        self, session: Session, subject: Subject, progress: Progress
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for part in _chunks(subject.event_seqs, EVENT_CHUNK):
            for event in read_events(session, part):
                out.append(
                    {
                        "seq": event.seq,
                        "source_id": event.source_id,
                        "type": event.type,
                        "name": event.name,
                        "occurred_at": event.occurred_at.isoformat(),
                        "received_at": event.received_at.isoformat(),
                        "payload": event.payload,
                    }
                )
            progress(len(part))
        return out

    def erase(self, session: Session, erasure: Erasure) -> None:
        subject = erasure.subject
        seqs = set(subject.event_seqs) | self._carrying(session, subject)
        redacted = 0
        for part in _chunks(seqs, EVENT_CHUNK):
            rows = session.execute(
                select(EventRow.seq, EventRow.type, EventRow.log_seq).where(EventRow.seq.in_(part))
            ).all()
            redacted += redact_events(session, [(r.seq, r.type) for r in rows], ERASED)
            erasure.stream_seqs.extend(r.log_seq for r in rows if r.log_seq is not None)
            # A failure's traceback can quote the payload.
            session.execute(
                update(DeadLetter)
                .where(DeadLetter.event_seq.in_(part))
                .values(reason="redacted: the event's subject was erased")
            )
            erasure.progress(len(part))
        erasure.count("events", redacted)
        erasure.touched_tables |= {"events", "dead_letters"}

    def _carrying(self, session: Session, subject: Subject) -> set[int]:
        """Events off the person's timeline that carry one of their identifiers."""
        hashes = subject.key_hashes
        if not hashes:
            return set()
        own = set(subject.event_seqs)
        ids = _identifier_ids(session, subject.customer_ids)
        maybe: set[int] = set()
        for part in _chunks(ids):
            maybe.update(
                session.scalars(
                    select(Identifier.source_event_seq).where(
                        Identifier.id.in_(part), Identifier.source_event_seq.is_not(None)
                    )
                )
            )
            links = session.execute(
                select(IdentityLink.a_id, IdentityLink.b_id, IdentityLink.source_event_seq).where(
                    or_(IdentityLink.a_id.in_(part), IdentityLink.b_id.in_(part))
                )
            ).all()
            maybe.update(r.source_event_seq for r in links if r.source_event_seq is not None)
            others = {i for r in links for i in (r.a_id, r.b_id)} - set(ids)
            # People linked to this one (a guardrail kept them apart): their timelines
            # may hold events that carry this person's identifiers too.
            neighbours = _customers_of(session, others) - set(subject.customer_ids)
            for group in _chunks(neighbours):
                maybe.update(
                    session.scalars(
                        select(TimelineEntry.event_seq).where(TimelineEntry.customer_id.in_(group))
                    )
                )
        maybe.update(
            session.scalars(select(DeadLetter.event_seq).where(DeadLetter.status == "open"))
        )
        maybe -= own
        guard, region = guardrails(), get_settings().default_phone_region
        found: set[int] = set()
        for part in _chunks(maybe, EVENT_CHUNK):
            for event in read_events(session, part):
                if not is_redacted(event.payload) and _carries(event, hashes, guard, region):
                    found.add(event.seq or 0)
        return found


def _carries(event: LogEvent, hashes: frozenset[bytes], guard: Any, region: str) -> bool:
    return any(
        c.key_hash in hashes for c in extract_identifiers(event.type, event.payload, guard, region)
    )


def _identifier_ids(session: Session, customer_ids: Iterable[int]) -> list[int]:
    ids: list[int] = []
    for part in _chunks(customer_ids):
        ids.extend(session.scalars(select(Identifier.id).where(Identifier.customer_id.in_(part))))
    return ids


def _customers_of(session: Session, identifier_ids: Iterable[int]) -> set[int]:
    found: set[int] = set()
    for part in _chunks(identifier_ids):
        found.update(
            c
            for c in session.scalars(select(Identifier.customer_id).where(Identifier.id.in_(part)))
            if c is not None
        )
    return found


# -- outbox -------------------------------------------------------------------------------------


class OutboxHandler:
    """Messages to the person: exported; on erasure their content is redacted and what
    was still waiting is not sent."""

    name = "outbox"

    def export(
        self, session: Session, subject: Subject, progress: Progress
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for message in self._messages(session, subject):
            out.append(
                {
                    "id": message.id,
                    "kind": message.kind,
                    "status": message.status,
                    "purpose": message.purpose,
                    "channel": message.channel,
                    "created_at": _iso(message.created_at),
                    "delivered_at": _iso(message.delivered_at),
                    "payload": loads(message.payload),
                }
            )
        return out

    def erase(self, session: Session, erasure: Erasure) -> None:
        messages = self._messages(session, erasure.subject)
        for message in messages:
            # The column encrypts what it is given (ORM reads and writes see JSON).
            message.payload = dumps({"redacted": ERASED})
            if message.status == "pending":
                message.status = "refused"
            message.last_error = "recipient erased"
        session.flush()
        erasure.count("outbox", len(messages))
        erasure.touched_tables.add("outbox")

    def _messages(self, session: Session, subject: Subject) -> list[OutboxMessage]:
        found: list[OutboxMessage] = []
        for part in _chunks(subject.customer_ids):
            found.extend(
                session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.customer_id.in_(part))
                    .order_by(OutboxMessage.id)
                )
            )
        return found


# -- profiles and timeline ----------------------------------------------------------------------


class ProfilesHandler:
    """Traits are cleared; the timeline rows and counters stay as anonymous aggregates
    (type, name, channel and time of each event; the payloads are redacted)."""

    name = "customers"

    def export(self, session: Session, subject: Subject, progress: Progress) -> dict[str, Any]:
        profiles = session.scalars(
            select(CustomerProfile).where(CustomerProfile.customer_id.in_(subject.customer_ids))
        )
        timeline: list[dict[str, Any]] = []
        for part in _chunks(subject.customer_ids):
            for t in session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.customer_id.in_(part))
                .order_by(TimelineEntry.occurred_at, TimelineEntry.event_seq)
            ):
                timeline.append(
                    {
                        "event_seq": t.event_seq,
                        "occurred_at": _iso(t.occurred_at),
                        "type": t.type,
                        "name": t.name,
                        "channel": t.channel,
                    }
                )
        return {
            "profiles": [
                {
                    "customer_id": p.customer_id,
                    "traits": loads(p.traits) if p.traits else {},
                    "channels": loads(p.channels),
                    "event_count": p.event_count,
                    "first_seen_at": _iso(p.first_seen_at),
                    "last_seen_at": _iso(p.last_seen_at),
                }
                for p in profiles
            ],
            "timeline": timeline,
        }

    def erase(self, session: Session, erasure: Erasure) -> None:
        raw = RawStatements(session)
        ids = list(erasure.subject.customer_ids)
        present = raw.select_in(
            "SELECT customer_id FROM customer_profiles WHERE customer_id IN ({in})", ids
        )
        raw.many(
            "UPDATE customer_profiles SET traits = ?, trait_times = ? WHERE customer_id = ?",
            [(encode_traits({}), "{}", row[0]) for row in present],
        )
        erasure.count("customer_profiles", len(present))
        erasure.touched_tables.add("customer_profiles")


# -- the identity graph -------------------------------------------------------------------------


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
                    "created_at": _iso(c.created_at),
                    "erased_at": _iso(c.erased_at),
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
                    "first_seen_at": _iso(i.first_seen_at),
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
                    "observed_at": _iso(link.observed_at),
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
                    "created_at": _iso(m.created_at),
                    "undone_at": _iso(m.undone_at),
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
                    "created_at": _iso(u.created_at),
                }
                for u in session.scalars(select(Unmerge).where(Unmerge.customer_id.in_(ids)))
            ],
            "open_conflicts": [
                {
                    "id": c.id,
                    "link_id": c.link_id,
                    "reason": c.reason,
                    "created_at": _iso(c.created_at),
                }
                for c in conflicts
            ],
        }

    def erase(self, session: Session, erasure: Erasure) -> None:
        subject = erasure.subject
        ids = _identifier_ids(session, subject.customer_ids)
        conflicts = links = identifiers = 0
        for part in _chunks(ids):
            touching = or_(IdentityLink.a_id.in_(part), IdentityLink.b_id.in_(part))
            link_ids = list(session.scalars(select(IdentityLink.id).where(touching)))
            for group in _chunks(link_ids):
                conflicts += _deleted(
                    session, table_of(IdentityConflict), IdentityConflict.link_id.in_(group)
                )
            links += _deleted(session, table_of(IdentityLink), touching)
        for part in _chunks(ids):
            identifiers += _deleted(session, table_of(Identifier), Identifier.id.in_(part))
        for part in _chunks(subject.key_hashes):
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


def handlers() -> tuple[PersonalDataHandler, ...]:
    """In erasure order (see the module docstring)."""
    return (EventsHandler(), OutboxHandler(), ProfilesHandler(), IdentityHandler())
