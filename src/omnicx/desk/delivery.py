"""A reply leaves through its channel's adapter: queued in the outbox, in the transaction
that stores it, and delivered by the dispatcher (consent and suppression checked at send
time, retried with backoff; ``runtime.outbound``).

A channel without an adapter yet keeps its replies ``queued``: nothing claims they were
delivered. The message's delivery state is read from its outbox message when shown:
``queued`` until sent, then ``delivered``; ``failed`` after the last retry; ``refused``
when the gate or the channel said no (WeChat's 48-hour window): the thread shows why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.channels.outbound import DeliveryReport, delivery_reports, outbox_kind
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.i18n import gettext
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


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a message stands, and for a refused reply why, or for a delivered one how
    the channel sent it if it says (the English sentence the gate or the channel wrote;
    ``reason_in`` translates it)."""

    state: str
    reason: str | None = None


def delivery_states(
    session: Session, messages: Iterable[Message], channel: str = ""
) -> dict[int, Delivery]:
    """Each message's delivery (by message id), its outbox's where it has one, and once
    sent what the channel's provider reported (SMS: sent, delivered, failed)."""
    listed = list(messages)
    linked = outbox_deliveries(session, {m.outbox_id: channel for m in listed if m.outbox_id})
    out: dict[int, Delivery] = {}
    for m in listed:
        found = linked.get(m.outbox_id) if m.outbox_id else None
        out[m.id] = found if found is not None else Delivery(m.delivery)
    return out


def outbox_deliveries(session: Session, channels: Mapping[int, str]) -> dict[int, Delivery]:
    """The delivery of each of these outbox messages (of replies, by outbox id, with the
    channel each went out on) that exists: its status, and once sent its provider's
    report. One read of the outbox by primary key, and one of a channel's reports when
    some of its messages were sent."""
    if not channels:
        return {}
    found = session.execute(
        select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.last_error).where(
            OutboxMessage.id.in_(channels)
        )
    )
    rows = {row.id: (row.status, row.last_error) for row in found}
    sent: dict[str, list[int]] = {}
    for outbox_id, (status, _) in rows.items():
        if status == "sent":
            sent.setdefault(channels[outbox_id], []).append(outbox_id)
    reports: dict[int, DeliveryReport] = {}
    for channel, ids in sent.items():
        reports.update(delivery_reports(session, channel, ids))
    out: dict[int, Delivery] = {}
    for outbox_id, (status, reason) in rows.items():
        state = STATES.get(status, "queued")
        report = reports.get(outbox_id)
        if report is not None:
            state, reason = report.state, report.reason
        # An outbox failure's error is technical; a refusal, a sent message's note (how
        # the channel sent it: WeChat's template message) and a provider's report are
        # sentences.
        worded = state in ("refused", "delivered") or report is not None
        shown = reason if worded and reason else None
        out[outbox_id] = Delivery(state, shown)
    return out


def reason_in(language: str, reason: str | None) -> str | None:
    """A refusal's reason in ``language``: the channels' own sentences are in the
    catalogs; the consent gate's name values and stay English."""
    return gettext(language, reason) if reason else None
