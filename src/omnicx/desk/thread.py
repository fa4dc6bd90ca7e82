"""A conversation's messages as its reader sees them: free text masked for the role, the
author's name, and each reply's delivery state read from its outbox message.

The API pages through a thread oldest first (``messages_after``); the console shows the
newest stretch of it (``latest_messages``). Both shape messages the same way here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.channels.media import StoredMedia
from omnicx.core.errors import NotFound
from omnicx.desk.access import LoadedConversation
from omnicx.desk.attachments.store import files_kept_for
from omnicx.desk.delivery import delivery_states
from omnicx.desk.models import Message
from omnicx.governance.users import get_user


@dataclass(frozen=True)
class ThreadMessage:
    id: int
    direction: str  # in | out | note
    author_user_id: int | None
    author_name: str | None
    text: str
    # Metadata only (name, type, size …), as the channel or the uploader gave it.
    attachments: list[Any]
    created_at: datetime
    delivery: str
    # Why a reply was refused, in English as its channel or the gate wrote it
    # (``delivery.reason_in`` gives it in the reader's language).
    delivery_reason: str | None


def messages_after(
    session: Session, loaded: LoadedConversation, after: int, limit: int
) -> tuple[list[ThreadMessage], bool]:
    """Up to ``limit`` messages with an id above ``after``, oldest first, and whether
    more follow."""
    rows = list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == loaded.row.id, Message.id > after)
            .order_by(Message.id)
            .limit(limit + 1)
        )
    )
    return shown(session, loaded, rows[:limit]), len(rows) > limit


def latest_messages(
    session: Session, loaded: LoadedConversation, limit: int
) -> tuple[list[ThreadMessage], bool]:
    """The newest ``limit`` messages, oldest first, and whether older ones exist."""
    rows = list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == loaded.row.id)
            .order_by(Message.id.desc())
            .limit(limit + 1)
        )
    )
    return shown(session, loaded, list(reversed(rows[:limit]))), len(rows) > limit


def shown(
    session: Session, loaded: LoadedConversation, rows: Sequence[Message]
) -> list[ThreadMessage]:
    """``rows`` as ``loaded``'s reader sees them (one query for the delivery states)."""
    states = delivery_states(session, rows, loaded.row.channel)
    names = _author_names(session, {m.author_user_id for m in rows} - {None})
    kept = files_kept_for(session, rows)
    return [
        ThreadMessage(
            id=m.id,
            direction=m.direction,
            author_user_id=m.author_user_id,
            author_name=names.get(m.author_user_id) if m.author_user_id is not None else None,
            text=loaded.text(m),
            attachments=_with_kept(loaded, m, kept.get(m.id, [])),
            created_at=m.created_at,
            delivery=states[m.id].state,
            delivery_reason=states[m.id].reason,
        )
        for m in rows
    ]


def _with_kept(loaded: LoadedConversation, message: Message, kept: list[StoredMedia]) -> list[Any]:
    """The message's attachments, and the files its channel kept for it since (their
    names shaped for the reader like the message's)."""
    listed = loaded.attachments(message)
    known = {a.get("id") for a in listed if isinstance(a, dict)}
    return listed + [
        {**f.metadata(), "name": loaded.view.text(f.name)} for f in kept if f.id not in known
    ]


def _author_names(session: Session, user_ids: set[int | None]) -> dict[int | None, str]:
    names: dict[int | None, str] = {}
    for user_id in user_ids:
        if user_id is None:
            continue
        try:
            names[user_id] = get_user(session, user_id).display_name
        except NotFound:  # a deleted account: the message stays, nameless
            continue
    return names
