"""The review group's processor: runs after the desk group (so a new customer's
conversation exists when identity's ``customer.created`` fact arrives), opens unmatched
items, settles them on ``customer.merged``, and follows CRM identifiers into the
backfill queue. Its items carry people's decisions, so ``reset`` deletes nothing; a
replay re-derives without counting or alerting twice."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.facts import is_fact
from omnicx.desk.review.backfill import follow_events
from omnicx.desk.review.unmatched import follow_created, follow_merged


class ReviewProcessor:
    name = "review"
    facts = frozenset({"customer.created", "customer.merged"})

    def prepare(self, events: Sequence[LogEvent]) -> None:
        """Nothing to prepare outside the write lock."""

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        # In log order (a fact after the events it follows), in runs of a kind, so each
        # run costs a few queries however long it is.
        events_run: list[LogEvent] = []
        created_run: list[LogEvent] = []

        def flush() -> None:
            follow_events(session, events_run)
            follow_created(session, created_run)
            events_run.clear()
            created_run.clear()

        for event in events:
            if not is_fact(event):
                if created_run:
                    flush()
                events_run.append(event)
            elif event.name == "customer.created":
                if events_run:
                    flush()
                created_run.append(event)
            elif event.name == "customer.merged":
                flush()
                follow_merged(session, event)
        flush()

    def reset(self, session: Session) -> None:
        """Nothing to delete: see the module docstring."""
