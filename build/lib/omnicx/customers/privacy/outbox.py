"""The outbox: what was sent, or waits to be sent, to the person."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.outbox import OutboxMessage
from omnicx.core.serialization import dumps, loads
from omnicx.customers.privacy.person import ERASED, in_chunks, iso
from omnicx.governance.privacy import Erasure, Progress, Subject


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
                    "created_at": iso(message.created_at),
                    "delivered_at": iso(message.delivered_at),
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
        for part in in_chunks(subject.customer_ids):
            found.extend(
                session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.customer_id.in_(part))
                    .order_by(OutboxMessage.id)
                )
            )
        return found
