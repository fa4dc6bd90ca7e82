"""Delivering an agent's reply to a web chat visitor.

The desk queues ``channel.webchat`` outbox messages; the dispatcher (often in the worker
process) calls ``WebchatDeliverer``, which records the reply in the transcript. The API
process holding the visitor's socket follows the transcript (``live.py``) and pushes it:
"delivered" means "in the thread", whether the visitor is online now or comes back later.
"""

from __future__ import annotations

from typing import Any

from omnicx.channels.replies import queued_reply, reply_channel
from omnicx.channels.webchat.models import OUTBOUND
from omnicx.channels.webchat.transcript import record_line
from omnicx.core.database import Database
from omnicx.core.outbox import DeliveryFailed, OutboxMessage

KIND = "channel.webchat"


class WebchatDeliverer:
    """The outbox deliverer for ``channel.webchat`` (idempotent on ``message_id``)."""

    def __init__(self, database: Database):
        self.database = database

    def __call__(self, message: OutboxMessage, payload: dict[str, Any]) -> None:
        reply = queued_reply(message, payload)
        if not reply.thread.startswith(("v:", "u:")):
            raise DeliveryFailed(f"{reply.thread!r} is not a web chat thread")
        with self.database.write() as session:
            reply_channel(session, reply.channel_id, "webchat")
            record_line(
                session,
                channel_id=reply.channel_id,
                thread=reply.thread,
                direction=OUTBOUND,
                message_id=reply.message_id,
                text=reply.text,
                author_name=reply.author_name,
                attachments=[f.metadata() for f in reply.attachments],
            )
