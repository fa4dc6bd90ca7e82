"""Phone calls in the desk: what a placed call message does to its conversation, and the
screen pops for the agent a call rings at or is answered by.

The phone channel puts each hung-up call in the caller's phone thread as a message with a
``call`` attachment (``channels.phone.inbound``). A **missed** call (inbound, nobody
answered) asks for a callback: its conversation gets the ``callback`` label and waits in
its queue like any customer message; the next answered call of that thread (they got
through, or we called back) takes the label off. A call someone took (or our own call
out) was served on the phone: it does not leave the conversation waiting for a reply.

``Call Ringing`` and ``Call Answered`` naming an agent (email, or an extension the channel
maps to one) become a ``CallPop`` row for that agent's account; the live feed
(``desk.live``) sends its ids to that agent's open consoles only. Old events (a replay,
a backlog) pop nothing: a pop is for a call happening now.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from omnicx.core.database import Base
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import as_utc, utcnow
from omnicx.desk.history import record_change
from omnicx.desk.messages import ChannelMessage
from omnicx.desk.models import Conversation, Message
from omnicx.governance.users import active_user_id

CALLBACK_LABEL = "callback"
POPPING_EVENTS = ("Call Ringing", "Call Answered")
# A call event older than this (a replay, a backlog after an outage) pops nothing.
POP_HORIZON = timedelta(minutes=2)


class CallPop(Base):
    """A call to show on an agent's screen: ids only (the console loads the rest through
    the access layer, masked for the agent's role)."""

    __tablename__ = "desk_call_pops"
    __table_args__ = (UniqueConstraint("event_message_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    call_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    conversation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The log's message id of the event that popped it: a redelivery pops nothing more.
    event_message_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def follow_call(session: Session, placed: Message, message: ChannelMessage) -> None:
    """What a phone message just placed means for its conversation (see the module)."""
    conversation = session.get(Conversation, placed.conversation_id)
    if conversation is None:
        return
    call = next(
        (a for a in message.attachments if isinstance(a, dict) and a.get("type") == "call"), None
    )
    labels = list(loads(conversation.labels))
    outcome = call.get("outcome") if call is not None else None
    if outcome == "missed":
        _label(session, conversation, labels, sorted({*labels, CALLBACK_LABEL}))
        return
    if outcome == "answered" and CALLBACK_LABEL in labels:
        # They got through, or we called them back: the callback is done.
        _label(session, conversation, labels, [x for x in labels if x != CALLBACK_LABEL])
        labels = list(loads(conversation.labels))
    if CALLBACK_LABEL not in labels:
        # Served on the phone (or a recording, a transcript of such a call).
        conversation.waiting_since = None


def _label(
    session: Session, conversation: Conversation, before: list[str], after: list[str]
) -> None:
    if before == after:
        return
    conversation.labels = dumps(after)
    record_change(session, conversation, "system", "labels", {"from": before, "to": after})


def pop_call(session: Session, event: LogEvent, now: datetime | None = None) -> CallPop | None:
    """The screen pop for a ``Call Ringing`` / ``Call Answered`` event naming an agent
    with an active account; None otherwise (idempotent per event and agent)."""
    if event.type != "track" or event.name not in POPPING_EVENTS:
        return None
    properties = event.payload.get("properties")
    if not isinstance(properties, dict) or properties.get("channel") != "phone":
        return None
    email = properties.get("agent_email")
    if not isinstance(email, str) or not email:
        return None
    if as_utc(event.received_at) < (now or utcnow()) - POP_HORIZON:
        return None
    user_id = active_user_id(session, email)
    if user_id is None:
        return None
    known = session.scalar(
        select(CallPop).where(
            CallPop.event_message_id == event.message_id, CallPop.user_id == user_id
        )
    )
    if known is not None:
        return None
    thread = properties.get("thread")
    conversation_id = None
    if event.customer_id is not None and isinstance(thread, str):
        conversation_id = session.scalar(
            select(Conversation.id)
            .where(
                Conversation.customer_id == event.customer_id,
                Conversation.channel == "phone",
                Conversation.thread == thread,
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    pop = CallPop(
        user_id=user_id,
        call_id=str(properties.get("call_id") or "")[:128],
        customer_id=event.customer_id,
        conversation_id=conversation_id,
        event_message_id=event.message_id[:200],
        created_at=utcnow(),
    )
    session.add(pop)
    session.flush()
    return pop
