"""Delivering an agent's reply to a web chat visitor.

The desk queues ``channel.webchat`` outbox messages; the dispatcher (often in the worker
process) calls ``WebchatDeliverer``, which records the reply in the transcript. The API
process holding the visitor's socket follows the transcript (``live.py``) and pushes it:
"delivered" means "in the thread", whether the visitor is online now or comes back later.
"""

from __future__ import annotations

from typing import Any

from omnicx.channels.media import media_list
from omnicx.channels.service import channel_by_id
from omnicx.channels.webchat.models import OUTBOUND
from omnicx.channels.webchat.transcript import record_line
from omnicx.core.database import Database
from omnicx.core.errors import NotFound
from omnicx.core.outbox import DeliveryFailed, OutboxMessage

KIND = "channel.webchat"


class WebchatDeliverer:
    """The outbox deliverer for ``channel.webchat`` (idempotent on ``message_id``)."""

    def __init__(self, database: Database):
        self.database = database

    def __call__(self, message: OutboxMessage, payload: dict[str, Any]) -> None:
        try:
            channel_id = int(payload["channel_id"])
            thread, text = str(payload["thread"]), str(payload["text"])
            message_id = str(payload.get("message_id") or f"outbox-{message.id}")
            files = media_list(payload.get("attachments"))
        except (KeyError, TypeError, ValueError) as exc:
            raise DeliveryFailed(
                f"a web chat reply needs channel_id, thread, text (and well-formed "
                f"attachments): {exc}"
            ) from exc
        if not thread.startswith(("v:", "u:")):
            raise DeliveryFailed(f"{thread!r} is not a web chat thread")
        author = payload.get("author_name")
        with self.database.write() as session:
            try:
                channel = channel_by_id(session, channel_id)
            except NotFound as exc:
                raise DeliveryFailed(exc.message) from exc
            if channel.kind != "webchat":
                raise DeliveryFailed(f"channel {channel_id} is not a web chat channel")
            record_line(
                session,
                channel_id=channel_id,
                thread=thread,
                direction=OUTBOUND,
                message_id=message_id,
                text=text,
                author_name=str(author)[:200] if author else None,
                attachments=[f.metadata() for f in files],
            )
