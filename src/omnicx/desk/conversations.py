"""Threading: which conversation a message belongs to.

One conversation per customer and channel thread. A returning customer's message
continues the thread's conversation while it is bot, open, pending or snoozed (a snooze
ends early, a pending one opens again), reopens it if it was resolved within the reopen
window (``desk_reopen_hours``), and otherwise starts a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from omnicx.core.eventlog.base import LogEvent
from omnicx.core.serialization import dumps
from omnicx.core.settings import get_settings
from omnicx.core.time import as_utc
from omnicx.desk.attachments.store import bind_to_conversation
from omnicx.desk.clocks import follow
from omnicx.desk.history import record_change
from omnicx.desk.messages import ChannelMessage
from omnicx.desk.models import ACTIVE_STATUSES, Conversation, Message
from omnicx.desk.routing import route_new
from omnicx.desk.search import index_messages
from omnicx.desk.status import reopen_conversation, wake

SYSTEM_ACTOR = "system"


def latest_conversation(
    session: Session, customer_id: int | None, channel: str, thread: str
) -> Conversation | None:
    owner = (
        Conversation.customer_id.is_(None)
        if customer_id is None
        else Conversation.customer_id == customer_id
    )
    # An unresolved one first (after a merge folded a thread, the folded one is resolved).
    unresolved = case((Conversation.status.in_(ACTIVE_STATUSES), 0), else_=1)
    return session.scalars(
        select(Conversation)
        .where(owner, Conversation.channel == channel, Conversation.thread == thread)
        .order_by(unresolved, Conversation.id.desc())
        .limit(1)
    ).first()


def continues(conversation: Conversation | None, at: datetime) -> bool:
    """Whether a customer's message at ``at`` belongs to this conversation."""
    if conversation is None:
        return False
    if conversation.status in ACTIVE_STATUSES:
        return True
    window = timedelta(hours=get_settings().desk_reopen_hours)
    resolved = conversation.resolved_at
    return resolved is not None and as_utc(at) - as_utc(resolved) <= window


def start_conversation(
    session: Session, customer_id: int | None, channel: str, thread: str, at: datetime
) -> Conversation:
    """A new conversation: ``bot`` in a bot inbox, else ``open`` and routed at once."""
    bot = channel in get_settings().desk_bot_channels
    conversation = Conversation(
        channel=channel,
        thread=thread,
        customer_id=customer_id,
        status="bot" if bot else "open",
        priority="normal",
        labels="[]",
        required_skills="[]",
        created_at=at,
        updated_at=at,
    )
    session.add(conversation)
    session.flush()
    record_change(
        session, conversation, SYSTEM_ACTOR, "created", {"status": conversation.status}, at
    )
    if not bot:
        route_new(session, conversation)
    return conversation


Placed = dict[tuple[str, str], Message]


def placed_messages(session: Session, messages: Sequence[ChannelMessage]) -> Placed:
    """The stored messages among these, by (channel, message id): one read for a batch."""
    if not messages:
        return {}
    rows = session.scalars(
        select(Message).where(
            Message.channel.in_({m.channel for m in messages}),
            Message.message_id.in_({m.message_id for m in messages}),
        )
    )
    return {(m.channel, m.message_id): m for m in rows}


def place_message(
    session: Session,
    event: LogEvent,
    message: ChannelMessage,
    customer_id: int | None,
    placed: Placed,
) -> Message | None:
    """Store a message event in its conversation; None if it is known already (a
    redelivery, a replay, or the desk's own reply coming back from the log). ``placed``
    holds the batch's stored messages (``placed_messages``) and gains this one."""
    known = placed.get((message.channel, message.message_id))
    if known is not None:
        if known.event_seq is None:
            known.event_seq = event.seq
        return None
    at = as_utc(event.occurred_at)
    conversation = latest_conversation(session, customer_id, message.channel, message.thread)
    if message.direction == "in":
        conversation = _for_customer_message(session, conversation, customer_id, message, at)
        if conversation.waiting_since is None:
            conversation.waiting_since = at
    else:
        # Sent through the channel itself (an agent answering in the provider's app).
        if conversation is None:
            conversation = start_conversation(
                session, customer_id, message.channel, message.thread, at
            )
        conversation.first_reply_at = conversation.first_reply_at or at
        conversation.waiting_since = None
    stored = Message(
        conversation_id=conversation.id,
        channel=message.channel,
        message_id=message.message_id,
        direction=message.direction,
        author_user_id=None,
        text=message.text,
        attachments=dumps(message.attachments),
        event_seq=event.seq,
        created_at=at,
        delivery="received" if message.direction == "in" else "sent",
    )
    session.add(stored)
    placed[(message.channel, message.message_id)] = stored
    if conversation.last_message_at is None or as_utc(conversation.last_message_at) < at:
        conversation.last_message_at = at
    conversation.updated_at = max(as_utc(conversation.updated_at), at)
    session.flush()
    if message.direction == "in" and message.attachments:
        bind_to_conversation(session, conversation.id, message.channel, message.message_id)
    index_messages(session, [stored])
    follow(session, conversation, at)
    return stored


def _for_customer_message(
    session: Session,
    conversation: Conversation | None,
    customer_id: int | None,
    message: ChannelMessage,
    at: datetime,
) -> Conversation:
    if conversation is None or not continues(conversation, at):
        return start_conversation(session, customer_id, message.channel, message.thread, at)
    if conversation.status == "resolved":
        reopen_conversation(session, conversation, at, SYSTEM_ACTOR)
    elif conversation.status == "snoozed":
        wake(session, conversation, SYSTEM_ACTOR, at)  # the customer wrote first
    elif conversation.status == "pending":
        conversation.status = "open"
        record_change(
            session, conversation, SYSTEM_ACTOR, "status", {"from": "pending", "to": "open"}, at
        )
    return conversation
