"""The review queues in privacy requests: the items about a person (an unmatched
sender's item, with its note; a backfill item holding one of their identifier values)
are exported with their data and deleted with their erasure, with the CRM's record of
having sent those values. Found by customer id and by the identifiers' blind indexes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from omnicx.core.time import as_utc
from omnicx.desk.review.models import BackfillItem, CrmIdentifier, UnmatchedSender
from omnicx.governance.privacy import Erasure, Progress, Subject


def _unmatched_of(subject: Subject) -> Any:
    ids = sorted(set(subject.customer_ids))
    return or_(UnmatchedSender.customer_id.in_(ids), UnmatchedSender.target_customer_id.in_(ids))


def _backfill_of(subject: Subject) -> Any:
    return or_(
        BackfillItem.key_hash.in_(sorted(subject.key_hashes)),
        BackfillItem.customer_id.in_(sorted(set(subject.customer_ids))),
    )


class ReviewQueuesHandler:
    """The person's items in the unmatched and backfill queues."""

    name = "review_queues"

    def export(self, session: Session, subject: Subject, progress: Progress) -> Any:
        unmatched = [
            {
                "channel": u.channel,
                "status": u.status,
                "first_message_at": as_utc(u.first_message_at).isoformat(),
                "note": u.note,
            }
            for u in session.scalars(
                select(UnmatchedSender).where(_unmatched_of(subject)).order_by(UnmatchedSender.id)
            )
        ]
        backfill = [
            {
                "type": b.type,
                "value": b.value,
                "source": b.source_name,
                "events": b.events,
                "status": b.status,
                "first_seen_at": as_utc(b.first_seen_at).isoformat(),
                "last_seen_at": as_utc(b.last_seen_at).isoformat(),
                "note": b.note,
            }
            for b in session.scalars(
                select(BackfillItem).where(_backfill_of(subject)).order_by(BackfillItem.id)
            )
        ]
        progress(len(unmatched) + len(backfill))
        return {"unmatched": unmatched, "backfill": backfill}

    def erase(self, session: Session, erasure: Erasure) -> None:
        subject = erasure.subject
        for table, statement in (
            ("review_unmatched", delete(UnmatchedSender).where(_unmatched_of(subject))),
            ("review_backfill", delete(BackfillItem).where(_backfill_of(subject))),
            (
                "review_crm_identifiers",
                delete(CrmIdentifier).where(CrmIdentifier.key_hash.in_(sorted(subject.key_hashes))),
            ),
        ):
            result = session.execute(statement)
            erased = int(getattr(result, "rowcount", 0) or 0)
            erasure.count(table, erased)
            if erased:
                erasure.touched_tables.add(table)
