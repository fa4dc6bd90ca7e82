"""The customer projection: profiles (traits) and the timeline.

Traits are cleared on erasure; the timeline rows and counters stay as anonymous
aggregates (type, name, channel and time of each event; the payloads are redacted by
the events handler).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements
from omnicx.core.serialization import loads
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.customers.privacy.person import in_chunks, iso
from omnicx.customers.profiles import encode_traits
from omnicx.customers.search import forget_name_terms
from omnicx.governance.privacy import Erasure, Progress, Subject


class ProfilesHandler:
    """Traits are cleared; the timeline rows and counters stay as anonymous aggregates
    (type, name, channel and time of each event; the payloads are redacted)."""

    name = "customers"

    def export(self, session: Session, subject: Subject, progress: Progress) -> dict[str, Any]:
        profiles = session.scalars(
            select(CustomerProfile).where(CustomerProfile.customer_id.in_(subject.customer_ids))
        )
        timeline: list[dict[str, Any]] = []
        for part in in_chunks(subject.customer_ids):
            for t in session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.customer_id.in_(part))
                .order_by(TimelineEntry.occurred_at, TimelineEntry.event_seq)
            ):
                timeline.append(
                    {
                        "event_seq": t.event_seq,
                        "occurred_at": iso(t.occurred_at),
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
                    "first_seen_at": iso(p.first_seen_at),
                    "last_seen_at": iso(p.last_seen_at),
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
        forget_name_terms(session, ids)  # the name is gone: nothing may find it
        erasure.touched_tables.add("customer_profiles")
        # The order ids on the timeline would tie the kept rows to the shop's records.
        for part in in_chunks(ids):
            session.execute(
                update(TimelineEntry)
                .where(TimelineEntry.customer_id.in_(part), TimelineEntry.order_id.is_not(None))
                .values(order_id=None)
            )
