"""The person's raw events: exported as received; on erasure their payloads are redacted.

Not only the events on the person's timeline: any other event that carries one of
their identifiers goes too (a guardrail may have put it on someone else's timeline, or
it failed processing and waits as a dead letter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.orm import Session

from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.models import DeadLetter, EventRow
from omnicx.core.eventlog.table import read_events
from omnicx.core.settings import get_settings
from omnicx.customers.models import TimelineEntry
from omnicx.customers.privacy.person import ERASED, customers_of, identifier_ids, in_chunks
from omnicx.governance.privacy import Erasure, Progress, Subject, is_redacted, redact_events
from omnicx.identity.extract import extract_identifiers
from omnicx.identity.models import Identifier, IdentityLink
from omnicx.identity.service import guardrails

EVENT_CHUNK = 1000


class EventsHandler:
    """Raw events: every payload attributed to the person, and any other event that
    carries one of their identifiers (a guardrail may have put it on someone else's
    timeline, or it failed processing)."""

    name = "events"

    def export(
        self, session: Session, subject: Subject, progress: Progress
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for part in in_chunks(subject.event_seqs, EVENT_CHUNK):
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
        for part in in_chunks(seqs, EVENT_CHUNK):
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
        ids = identifier_ids(session, subject.customer_ids)
        maybe: set[int] = set()
        for part in in_chunks(ids):
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
            neighbours = customers_of(session, others) - set(subject.customer_ids)
            for group in in_chunks(neighbours):
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
        for part in in_chunks(maybe, EVENT_CHUNK):
            for event in read_events(session, part):
                if not is_redacted(event.payload) and _carries(event, hashes, guard, region):
                    found.add(event.seq or 0)
        return found


def _carries(event: LogEvent, hashes: frozenset[bytes], guard: Any, region: str) -> bool:
    return any(
        c.key_hash in hashes for c in extract_identifiers(event.type, event.payload, guard, region)
    )


def forget_timeline_entries(session: Session, seqs: Sequence[int]) -> int:
    """Timeline rows of events the retention job deletes (counters stay as they are)."""
    result = session.execute(delete(TimelineEntry).where(TimelineEntry.event_seq.in_(seqs)))
    return cast(CursorResult[Any], result).rowcount
