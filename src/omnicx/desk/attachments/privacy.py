"""Attachments in privacy requests: the files of a person's conversations are listed in
their export (what each is, not its bytes) and deleted, bytes and all, on erasure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from omnicx.desk.attachments.models import Attachment
from omnicx.desk.models import Conversation
from omnicx.governance.privacy import Erasure, Progress, Subject


def _theirs(subject: Subject) -> ColumnElement[bool]:
    conversations = select(Conversation.id).where(
        Conversation.customer_id.in_(subject.customer_ids)
    )
    return Attachment.conversation_id.in_(conversations)


class DeskAttachmentsHandler:
    """Every file of the person's conversations, theirs and the agents' sent to them."""

    name = "desk_attachments"

    def export(self, session: Session, subject: Subject, progress: Progress) -> Any:
        rows = session.scalars(select(Attachment).where(_theirs(subject)).order_by(Attachment.id))
        out = [
            {
                "id": row.id,
                "conversation_id": row.conversation_id,
                "name": row.name,
                "type": row.content_type,
                "declared_type": row.declared_type,
                "size": row.size,
                "sha256": row.sha256,
                "uploaded_by": row.uploaded_by,
                "created_at": row.created_at.isoformat(),
            }
            for row in rows
        ]
        progress(len(out))
        return out

    def erase(self, session: Session, erasure: Erasure) -> None:
        result = session.execute(delete(Attachment).where(_theirs(erasure.subject)))
        erased = int(getattr(result, "rowcount", 0) or 0)
        erasure.count("desk_attachments", erased)
        if erased:  # VACUUM (PostgreSQL) only a table that changed
            erasure.touched_tables.add("desk_attachments")
