"""What every channel's deliverer reads first: the reply the desk queued
(``desk.delivery.queue_delivery``) and the channel it goes out on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from omnicx.channels.media import StoredMedia, media_list
from omnicx.channels.service import ChannelView, channel_by_id
from omnicx.core.errors import NotFound
from omnicx.core.outbox import DeliveryFailed, OutboxMessage


@dataclass(frozen=True, slots=True)
class QueuedReply:
    channel_id: int
    thread: str
    text: str
    message_id: str
    author_name: str | None
    # Files from the desk's store the agent attached (``channels.media``).
    attachments: list[StoredMedia]


def queued_reply(message: OutboxMessage, payload: dict[str, Any]) -> QueuedReply:
    """The reply in an outbox payload (``DeliveryFailed`` if it is not one)."""
    try:
        channel_id = int(payload["channel_id"])
        thread, text = str(payload["thread"]), str(payload["text"])
        files = media_list(payload.get("attachments"))
    except (KeyError, TypeError, ValueError) as exc:
        raise DeliveryFailed(
            f"a reply needs channel_id, thread, text (and well-formed attachments): {exc}"
        ) from exc
    author = payload.get("author_name")
    return QueuedReply(
        channel_id=channel_id,
        thread=thread,
        text=text,
        message_id=str(payload.get("message_id") or f"outbox-{message.id}"),
        author_name=str(author)[:200] if author else None,
        attachments=files,
    )


def reply_channel(session: Session, channel_id: int, kind: str) -> ChannelView:
    """The channel a reply goes out on, which must be of ``kind`` (``DeliveryFailed``)."""
    try:
        channel = channel_by_id(session, channel_id)
    except NotFound as exc:
        raise DeliveryFailed(exc.message) from exc
    if channel.kind != kind:
        raise DeliveryFailed(f"channel {channel_id} is not a {kind} channel")
    return channel
