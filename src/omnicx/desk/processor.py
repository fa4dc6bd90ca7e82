"""The desk group's processor: message events into conversations, and conversations
following their customer through merges and unmerges.

It runs after identity (``runtime.processors``), so each event comes with its customer.
Idempotent: a message is placed once per (channel, message id), so a redelivery or a
replay adds nothing. The desk's own records (conversations, assignments, statuses,
notes) are not derived from the log and are never deleted: ``reset`` keeps them, and a
replay only re-derives threading and attribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.facts import is_fact
from omnicx.core.scheduler import cancel
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import as_utc, utcnow
from omnicx.customers.service import event_owners
from omnicx.desk.attachments.store import move_to_conversation
from omnicx.desk.calls import POPPING_EVENTS, follow_call, pop_call
from omnicx.desk.conversations import place_message, placed_messages
from omnicx.desk.history import record_change
from omnicx.desk.messages import RECEIVED, SENT, read_message
from omnicx.desk.models import ACTIVE_STATUSES, Conversation, Message
from omnicx.desk.search import move_terms
from omnicx.desk.status import snooze_key

MESSAGE = "desk.message"


class DeskProcessor:
    name = "desk"
    facts = frozenset({"customer.merged", "customer.unmerged"})
    # Messages make conversations, and a call ringing or answered pops a screen: the group
    # passes over every other event.
    event_names = frozenset({RECEIVED, SENT, *POPPING_EVENTS})

    def prepare(self, events: Sequence[LogEvent]) -> None:
        for event in events:
            if not is_fact(event):
                event.derived[MESSAGE] = read_message(event)

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        for event in events:
            if not is_fact(event) and MESSAGE not in event.derived:
                event.derived[MESSAGE] = read_message(event)
        placed = placed_messages(
            session,
            [m for e in events if not is_fact(e) and (m := e.derived[MESSAGE]) is not None],
        )
        for event in events:
            if is_fact(event):
                if event.name == "customer.merged":
                    follow_merge(
                        session, int(event.payload["merged_id"]), int(event.payload["customer_id"])
                    )
                elif event.name == "customer.unmerged":
                    follow_split(
                        session,
                        [event.payload["customer_id"], *event.payload["new_customer_ids"]],
                    )
                continue
            message = event.derived[MESSAGE]
            if message is not None:
                stored = place_message(session, event, message, event.customer_id, placed)
                if stored is not None and message.channel == "phone":
                    follow_call(session, stored, message)
            else:
                pop_call(session, event)

    def reset(self, session: Session) -> None:
        """Nothing to delete: conversations and what agents did are the desk's own
        records; a replay re-places only messages it does not know. Their search terms
        stay with them (notes, which are not on the log, could not be indexed again)."""


def follow_merge(session: Session, merged_id: int, survivor_id: int) -> None:
    """The merged customer's conversations move to the survivor."""
    moved = session.scalars(select(Conversation).where(Conversation.customer_id == merged_id)).all()
    for conversation in moved:
        conversation.customer_id = survivor_id
        record_change(
            session, conversation, "system", "customer", {"from": merged_id, "to": survivor_id}
        )
    session.flush()
    for conversation in moved:
        fold_thread(session, conversation)


def fold_thread(session: Session, conversation: Conversation) -> None:
    """Two unresolved conversations of one customer on one thread (the thread's two
    senders turned out to be one person) become one: the older keeps the messages."""
    if conversation.status not in ACTIVE_STATUSES:
        return
    same = session.scalars(
        select(Conversation)
        .where(
            Conversation.customer_id == conversation.customer_id,
            Conversation.channel == conversation.channel,
            Conversation.thread == conversation.thread,
            Conversation.status.in_(ACTIVE_STATUSES),
        )
        .order_by(Conversation.id)
    ).all()
    if len(same) < 2:
        return
    keeper, others = same[0], same[1:]
    move_to_conversation(session, [other.id for other in others], keeper.id)
    for other in others:
        session.execute(
            update(Message)
            .where(Message.conversation_id == other.id)
            .values(conversation_id=keeper.id)
        )
        move_terms(session, other.id, keeper.id)
        keeper.labels = dumps(sorted(set(loads(keeper.labels)) | set(loads(other.labels))))
        keeper.last_message_at = _latest(keeper.last_message_at, other.last_message_at, max)
        keeper.first_reply_at = _latest(keeper.first_reply_at, other.first_reply_at, min)
        keeper.waiting_since = _latest(keeper.waiting_since, other.waiting_since, min)
        if keeper.assignee_id is None and other.assignee_id is not None:
            keeper.assignee_id, keeper.team_id = other.assignee_id, other.team_id
        cancel(session, snooze_key(other.id))
        other.status, other.assignee_id, other.snoozed_until = "resolved", None, None
        other.resolved_at = other.updated_at = utcnow()
        record_change(session, other, "system", "folded", {"into": keeper.id})
        record_change(session, keeper, "system", "folded", {"from": other.id})


def follow_split(session: Session, customer_ids: Sequence[int]) -> None:
    """After an unmerge, each conversation follows the customer its latest attributed
    customer message now belongs to."""
    ids = sorted({int(c) for c in customer_ids})
    conversations = session.scalars(
        select(Conversation).where(Conversation.customer_id.in_(ids))
    ).all()
    if not conversations:
        return
    messages = session.execute(
        select(Message.conversation_id, Message.event_seq)
        .where(
            Message.conversation_id.in_([c.id for c in conversations]),
            Message.direction == "in",
            Message.event_seq.is_not(None),
        )
        .order_by(Message.id)
    ).all()
    owners = event_owners(session, [seq for _, seq in messages if seq is not None])
    latest: dict[int, int] = {}
    for conversation_id, seq in messages:
        if seq in owners:
            latest[conversation_id] = owners[seq]
    for conversation in conversations:
        owner = latest.get(conversation.id)
        if owner is not None and owner != conversation.customer_id:
            record_change(
                session,
                conversation,
                "system",
                "customer",
                {"from": conversation.customer_id, "to": owner, "why": "unmerge"},
            )
            conversation.customer_id = owner


def _latest(mine: datetime | None, theirs: datetime | None, pick: Any) -> datetime | None:
    """``pick`` (min or max) of two optional moments."""
    present = [as_utc(m) for m in (mine, theirs) if m is not None]
    return pick(present) if present else None
