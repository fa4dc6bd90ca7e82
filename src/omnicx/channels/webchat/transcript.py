"""Reading and writing web chat's transcript (the caller's session; it commits)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicx.channels.webchat.models import WebchatMessage
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import as_utc, utcnow

HISTORY_MESSAGES = 200


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    id: int
    channel_id: int
    thread: str
    direction: str
    message_id: str
    text: str
    author_name: str | None
    created_at: datetime
    # The files it carries: {"id", "name", "type", "size"} each.
    attachments: tuple[dict[str, Any], ...] = ()

    def as_frame(self) -> dict[str, Any]:
        """What the widget receives: nothing about the channel or other threads (the
        files' download links are added by the route that sends it)."""
        return {
            "type": "message",
            "id": self.id,
            "direction": self.direction,
            "message_id": self.message_id,
            "text": self.text,
            "author_name": self.author_name,
            "at": self.created_at.isoformat(),
            "attachments": [dict(a) for a in self.attachments],
        }


def line_of(row: WebchatMessage) -> TranscriptLine:
    return TranscriptLine(
        id=row.id,
        channel_id=row.channel_id,
        thread=row.thread,
        direction=row.direction,
        message_id=row.message_id,
        text=row.text,
        author_name=row.author_name,
        created_at=as_utc(row.created_at),
        attachments=tuple(loads(row.attachments)) if row.attachments else (),
    )


def record_line(
    session: Session,
    *,
    channel_id: int,
    thread: str,
    direction: str,
    message_id: str,
    text: str,
    author_name: str | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
) -> bool:
    """Add a line unless ``(channel_id, message_id)`` is already there (idempotent:
    redeliveries and retries are no-ops). True when it was added."""
    existing = select(WebchatMessage.id).where(
        WebchatMessage.channel_id == channel_id, WebchatMessage.message_id == message_id
    )
    if session.scalar(existing) is not None:
        return False
    row = WebchatMessage(
        channel_id=channel_id,
        thread=thread,
        direction=direction,
        message_id=message_id,
        text=text,
        author_name=author_name,
        attachments=dumps([dict(a) for a in attachments]) if attachments else None,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same message recorded meanwhile by another process
        return False
    return True


def thread_history(
    session: Session, channel_id: int, thread: str, limit: int = HISTORY_MESSAGES
) -> list[TranscriptLine]:
    """The last ``limit`` lines of one thread, oldest first."""
    rows = session.scalars(
        select(WebchatMessage)
        .where(WebchatMessage.channel_id == channel_id, WebchatMessage.thread == thread)
        .order_by(WebchatMessage.id.desc())
        .limit(limit)
    )
    return [line_of(r) for r in reversed(list(rows))]
