"""Reading and writing web chat's transcript (the caller's session; it commits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicx.channels.webchat.models import WebchatMessage
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

    def as_frame(self) -> dict[str, Any]:
        """What the widget receives: nothing about the channel or other threads."""
        return {
            "type": "message",
            "id": self.id,
            "direction": self.direction,
            "message_id": self.message_id,
            "text": self.text,
            "author_name": self.author_name,
            "at": self.created_at.isoformat(),
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
