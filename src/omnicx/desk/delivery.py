"""A reply leaves through its channel's adapter: queued in the outbox, in the transaction
that stores it, and delivered by the dispatcher (consent and suppression checked at send
time, retried with backoff; ``runtime.outbound``).

A channel without an adapter yet keeps its replies ``queued``: nothing claims they were
delivered. The message's delivery state is read from its outbox message when shown:
``queued`` until sent, then ``delivered``; ``failed`` after the last retry; ``refused``
when the gate said no (the reason is in ``omnicx outbox list``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.channels.outbound import outbox_kind
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.outbox import OutboxMessage, enqueue
from omnicx.core.serialization import loads
from omnicx.desk.models import Conversation, Message

# The outbox's statuses as a reply's delivery state.
STATES = {"pending": "queued", "sent": "delivered", "dead": "failed", "refused": "refused"}


def queue_delivery(
    session: Session,
    conversation: Conversation,
    message: Message,
    inbound: LogEvent | None,
    author_name: str | None,
) -> int | None:
    """Queue ``message`` for its channel; the outbox message's id, or None when the
    channel has no adapter yet, or the customer's message did not come through one
    (imported or demo messages name no channel instance to answer on)."""
    kind = outbox_kind(conversation.channel)
    properties = inbound.payload.get("properties") if inbound is not None else None
    channel_id = properties.get("channel_id") if isinstance(properties, dict) else None
    if kind is None or channel_id is None:
        return None
    payload: dict[str, Any] = {
        "channel_id": channel_id,
        "thread": conversation.thread,
        "text": message.text,
        "message_id": message.message_id,
        "author_name": author_name,
        "attachments": loads(message.attachments),
    }
    queued = enqueue(
        session,
        kind,
        payload,
        customer_id=conversation.customer_id,
        purpose="service",
        channel=conversation.channel,
    )
    session.flush()
    return queued.id


def delivery_states(session: Session, messages: Iterable[Message]) -> dict[int, str]:
    """Each message's delivery state (by message id), its outbox's where it has one."""
    listed = list(messages)
    linked = {m.outbox_id for m in listed if m.outbox_id is not None}
    status: dict[int, str] = {}
    if linked:
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.id.in_(linked))
        )
        status = {row.id: row.status for row in rows}
    return {
        m.id: STATES.get(status.get(m.outbox_id, ""), m.delivery)
        if m.outbox_id is not None
        else m.delivery
        for m in listed
    }
