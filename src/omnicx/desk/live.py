"""Which conversations just changed, for the agents' live views (the web layer streams
them to browsers).

Each API process runs one feed (a ``core.follow.Follower``) while any agent's stream is
open. Every 250 ms one query reads what was written since the last poll, by any process:
new desk messages (customers' messages placed by the desk group, replies, notes) and
history rows (created, assigned, transferred, status, labels, priority, snooze, wake,
handoff, folded, SLA at risk and breached), each with its conversation's assignee and
team as they are now — and, for an assignment or a transfer, as they were before. Each
changed conversation's id goes to the listeners whose reach covers it now or covered it
before (an agent sees a conversation transferred away leave their inbox); nothing else
about it leaves this module.

The same poll reads the screen pops of phone calls (``desk.calls.CallPop``) and sends
each, as ids only, to the streams of the one agent it is for.

A reply's delivery outcome (sent, failed, refused; an SMS provider's report) writes no
desk row: the feed also keeps a watch of the replies not settled yet and announces the
conversation of one whose delivery changed (``desk.live_delivery`` says why it reads
their current state rather than following a column).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Subquery,
    Text,
    case,
    cast,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from omnicx.core.database import Database
from omnicx.core.follow import Follower, Watermark
from omnicx.core.serialization import loads
from omnicx.desk.access import Reach
from omnicx.desk.calls import CallPop
from omnicx.desk.live_delivery import DeliveryWatch
from omnicx.desk.models import Conversation, ConversationChange, Message

POLL_SECONDS = 0.25
BATCH = 2000
MESSAGE, CHANGE = 0, 1
# History actions whose detail says where the conversation was before ({"from": …}).
MOVES = ("assigned", "transferred")

Holder = tuple[int | None, int | None]  # (assignee id, team id)


@dataclass(eq=False)
class Listener:
    """One open stream: what its agent may see, and the ids waiting to be sent."""

    reach: Reach
    # Conversation ids, and the calls to pop on this agent's screen.
    queue: asyncio.Queue[int | CallPopped] = field(
        default_factory=lambda: asyncio.Queue(maxsize=1000)
    )


@dataclass(frozen=True)
class ConversationChanged:
    conversation_id: int
    holders: frozenset[Holder]  # who held it now, and before a move


@dataclass(frozen=True)
class CallPopped:
    """A call ringing at or answered by ``user_id``: ids only, never a number or name."""

    user_id: int
    call_id: str
    customer_id: int | None
    conversation_id: int | None


class ConversationFeed(Follower[ConversationChanged | CallPopped]):
    """Follows desk messages and history and tells listeners which conversations changed."""

    def __init__(self, database: Database, poll_seconds: float = POLL_SECONDS):
        super().__init__(database, "desk-live", poll_seconds)
        self._listeners: set[Listener] = set()
        self._messages = Watermark(Message.id, self.overlap_ids)
        self._changes = Watermark(ConversationChange.id, self.overlap_ids)
        self._pops = Watermark(CallPop.id, self.overlap_ids)
        self._deliveries = DeliveryWatch()

    async def subscribe(self, reach: Reach) -> Listener:
        """A listener that receives the ids of conversations ``reach`` covers, changed from
        now on."""
        listener = Listener(reach)
        self._listeners.add(listener)
        try:
            await self.start()
        except BaseException:
            self.unsubscribe(listener)  # nobody will read it
            raise
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    def listening(self) -> bool:
        return bool(self._listeners)

    @property
    def watched_replies(self) -> int:
        """How many replies' delivery the feed still reads each poll (not settled)."""
        return len(self._deliveries)

    def begin(self, session: Session) -> None:
        self._messages.restart(session)
        self._changes.restart(session)
        self._pops.restart(session)
        self._deliveries.restart(session, BATCH)

    def poll(self, session: Session) -> Sequence[ConversationChanged | CallPopped]:
        rows = session.execute(_written_since(self._messages.low, self._changes.low)).all()
        fresh = {
            MESSAGE: set(self._messages.fresh(r.id for r in rows if r.kind == MESSAGE)),
            CHANGE: set(self._changes.fresh(r.id for r in rows if r.kind == CHANGE)),
        }
        changed: dict[int, set[Holder]] = {}
        for row in rows:
            if row.id in fresh[row.kind]:
                holders = changed.setdefault(row.conversation_id, set())
                holders.add((row.assignee_id, row.team_id))
                holders.update(_held_before(row.detail))
                if row.kind == MESSAGE and row.outbox_id is not None:
                    self._deliveries.take([(row.outbox_id, row.conversation_id, row.channel)])
        delivered = self._deliveries.changed(session) - changed.keys()
        for c, assignee, team in _holders(session, delivered):
            changed[c] = {(assignee, team)}
        found: list[ConversationChanged | CallPopped] = [
            ConversationChanged(c, frozenset(h)) for c, h in changed.items()
        ]
        return found + self._popped(session)

    def _popped(self, session: Session) -> list[CallPopped]:
        """The call pops written since the last poll (an indexed range read)."""
        rows = session.execute(
            select(
                CallPop.id, CallPop.user_id, CallPop.call_id, CallPop.customer_id,
                CallPop.conversation_id,
            )
            .where(CallPop.id > self._pops.low)
            .order_by(CallPop.id)
            .limit(BATCH)
        ).all()  # fmt: skip
        fresh = set(self._pops.fresh(r.id for r in rows))
        return [
            CallPopped(r.user_id, r.call_id, r.customer_id, r.conversation_id)
            for r in rows
            if r.id in fresh
        ]

    def deliver(self, item: ConversationChanged | CallPopped) -> None:
        if isinstance(item, CallPopped):
            for listener in self._listeners:
                if listener.reach.user_id == item.user_id and not listener.queue.full():
                    listener.queue.put_nowait(item)
            return
        for listener in self._listeners:
            seen = any(listener.reach.sees(a, t) for a, t in item.holders)
            if seen and not listener.queue.full():  # a stalled stream loses ids; the
                listener.queue.put_nowait(item.conversation_id)  # page reloads on reconnect


def _written_since(after_message: int, after_change: int) -> Any:
    """Messages and history rows above the two ids, with their conversation's holders:
    one statement (a UNION ALL of two indexed range reads)."""
    moved = case((ConversationChange.action.in_(MOVES), ConversationChange.detail), else_=null())
    messages = _above(
        MESSAGE,
        Message.id,
        Message.conversation_id,
        cast(null(), Text),
        Message.outbox_id,
        after_message,
    )
    changes = _above(
        CHANGE,
        ConversationChange.id,
        ConversationChange.conversation_id,
        moved,
        cast(null(), BigInteger),
        after_change,
    )
    return union_all(select(messages), select(changes))


def _above(
    kind: int,
    row_id: InstrumentedAttribute[int],
    conversation_id: InstrumentedAttribute[int],
    detail: ColumnElement[Any],
    outbox_id: ColumnElement[Any] | InstrumentedAttribute[int | None],
    after: int,
) -> Subquery:
    """The next ``BATCH`` rows of one table after id ``after``, with their holders."""
    return (
        select(
            literal(kind).label("kind"),
            row_id.label("id"),
            conversation_id.label("conversation_id"),
            Conversation.assignee_id.label("assignee_id"),
            Conversation.team_id.label("team_id"),
            detail.label("detail"),
            outbox_id.label("outbox_id"),
            Conversation.channel.label("channel"),
        )
        .join(Conversation, Conversation.id == conversation_id)
        .where(row_id > after)
        .order_by(row_id)
        .limit(BATCH)
        .subquery()
    )


def _holders(session: Session, conversation_ids: set[int]) -> list[tuple[int, Any, Any]]:
    """Who holds each of these conversations now (assignee id, team id)."""
    if not conversation_ids:
        return []
    rows = session.execute(
        select(Conversation.id, Conversation.assignee_id, Conversation.team_id).where(
            Conversation.id.in_(conversation_ids)
        )
    )
    return [(r.id, r.assignee_id, r.team_id) for r in rows]


def _held_before(detail: str | None) -> list[Holder]:
    """Who held a conversation before a move, from its history detail."""
    value = loads(detail) if detail else None
    before = value.get("from") if isinstance(value, dict) else None
    if not isinstance(before, dict):
        return []
    assignee, team = before.get("assignee_id"), before.get("team_id")
    return [
        (
            assignee if isinstance(assignee, int) else None,
            team if isinstance(team, int) else None,
        )
    ]
