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
        run: list[LogEvent] = []
        for event in events:  # in log order: a fact after the events it follows
            if not is_fact(event):
                run.append(event)
                continue
            follow_events(session, run)
            run = []
            if event.name == "customer.created":
                follow_created(session, event)
            elif event.name == "customer.merged":
                follow_merged(session, event)
        follow_events(session, run)

    def reset(self, session: Session) -> None:
        """Nothing to delete: see the module docstring."""
