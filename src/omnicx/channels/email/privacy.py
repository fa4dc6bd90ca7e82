"""Email's reply context in privacy requests: a person's threads (their address, name,
subjects) are exported with their data and erased with them. Each thread is found by the
address's blind index, which identity keeps among the person's identifiers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from omnicx.channels.email.models import EmailMessage, EmailThread
from omnicx.core.serialization import loads
from omnicx.core.time import as_utc
from omnicx.governance.privacy import Erasure, Progress, Subject


class EmailThreadsHandler:
    """The threads a person wrote from: what a reply to them would use."""

    name = "email_threads"

    def export(self, session: Session, subject: Subject, progress: Progress) -> Any:
        rows = session.scalars(
            select(EmailThread)
            .where(EmailThread.address_hash.in_(sorted(subject.key_hashes)))
            .order_by(EmailThread.channel_id, EmailThread.thread)
        )
        out = []
        for row in rows:
            context = loads(row.context)
            out.append(
                {
                    "channel_id": row.channel_id,
                    "thread": row.thread,
                    "address": context.get("address"),
                    "name": context.get("name"),
                    "subject": context.get("subject"),
                    "updated_at": as_utc(row.updated_at).isoformat(),
                }
            )
        progress(len(out))
        return out

    def erase(self, session: Session, erasure: Erasure) -> None:
        keys = sorted(erasure.subject.key_hashes)
        threads = list(
            session.execute(
                select(EmailThread.channel_id, EmailThread.thread).where(
                    EmailThread.address_hash.in_(keys)
                )
            ).all()
        )
        for channel_id, thread in threads:
            # The thread's Message-IDs go too: a later mail on it starts afresh.
            session.execute(
                delete(EmailMessage).where(
                    EmailMessage.channel_id == channel_id, EmailMessage.thread == thread
                )
            )
        result = session.execute(delete(EmailThread).where(EmailThread.address_hash.in_(keys)))
        erased = int(getattr(result, "rowcount", 0) or 0)
        erasure.count("email_threads", erased)
        if erased:
            erasure.touched_tables.update({"email_threads", "email_messages"})
