"""Which replies' delivery just changed, for the live feed (``desk.live``).

A delivery outcome writes no desk row: the dispatcher marks the reply's outbox message
sent, dead or refused (in the worker, or any process that dispatches), and an SMS
provider's status callback moves the channel's own record of the text on. The feed
therefore keeps a small **watch** of the replies whose delivery is not settled yet
(``queued``, or an SMS text ``sent`` but not reported delivered or failed), by outbox
id, with their conversation and the delivery the thread shows now. Each poll reads those
outbox rows by primary key (and, for SMS texts already sent, the provider's reports, by
their unique outbox id): a reply whose shown delivery differs from what was noted is
announced, and a settled one (delivered, failed, refused) leaves the watch.

Why not follow a column of the outbox? Its ids are monotonic but count rows created,
not rows changed, and ``delivered_at``/``updated_at`` are written by clocks of several
processes and commit out of order: a watermark on them skips changes. A "delivery
changed" table that every writer appends to would be ordered, but core and channels
may not know the desk, and it needs a migration. Reading the current state of the few
open replies needs neither: it is right with any number of processes and on SQLite and
PostgreSQL alike (a committed state is a committed state; nothing can be "late"), costs
one indexed read per poll while replies are open and none otherwise, and does not grow
with history: the watch holds only what is not settled, at most ``WATCHED`` replies, and
forgets one after ``WATCH_SECONDS`` (a text whose provider never reports).

The watch learns of a reply when the feed reads its message (and notes the delivery
read in that same poll, already covered by the message's announcement); when the feed
starts, it takes the open replies among the last ``BATCH`` desk messages. A reply older
than that, still open when the feed starts, shows its change on the next refresh.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.desk.delivery import Delivery, outbox_deliveries
from omnicx.desk.models import Conversation, Message

WATCHED = 2000
WATCH_SECONDS = 24 * 3600.0
SETTLED = frozenset({"delivered", "failed", "refused"})


@dataclass
class Watched:
    conversation_id: int
    channel: str
    since: float  # time.monotonic() when it was taken into the watch
    shown: Delivery | None = None  # None: not read yet


class DeliveryWatch:
    """The replies whose delivery may still change, and what the thread shows of each."""

    def __init__(self, limit: int = WATCHED, seconds: float = WATCH_SECONDS):
        self.limit = limit
        self.seconds = seconds
        self._watched: dict[int, Watched] = {}  # by outbox id

    def __len__(self) -> int:
        return len(self._watched)

    def restart(self, session: Session, batch: int) -> None:
        """Watch the replies among the last ``batch`` desk messages that are open now."""
        self._watched.clear()
        last = (
            select(Message.id, Message.outbox_id, Message.conversation_id)
            .order_by(Message.id.desc())
            .limit(batch)
            .subquery()
        )
        found = session.execute(
            select(last.c.outbox_id, last.c.conversation_id, Conversation.channel)
            .join(Conversation, Conversation.id == last.c.conversation_id)
            .where(last.c.outbox_id.is_not(None))
        )
        self.take((r.outbox_id, r.conversation_id, r.channel) for r in found)
        self.changed(session)  # notes what is shown now, announces nothing

    def take(self, replies: Iterable[tuple[int, int, str]]) -> None:
        """Watch these replies (outbox id, conversation id, channel) from now on."""
        now = time.monotonic()
        for outbox_id, conversation_id, channel in replies:
            self._watched.setdefault(outbox_id, Watched(conversation_id, channel, now))
        if len(self._watched) > self.limit:  # the oldest go first
            for outbox_id in sorted(self._watched)[: len(self._watched) - self.limit]:
                del self._watched[outbox_id]

    def changed(self, session: Session) -> set[int]:
        """The conversations of watched replies whose shown delivery changed since the
        last read (a reply read for the first time counts as unchanged); settled and
        expired replies leave the watch."""
        if not self._watched:
            return set()
        now = outbox_deliveries(session, {i: w.channel for i, w in self._watched.items()})
        changed: set[int] = set()
        expired = time.monotonic() - self.seconds
        for outbox_id, watched in list(self._watched.items()):
            shown = now.get(outbox_id)
            if shown is None or watched.since < expired:  # gone (retention), or stale
                del self._watched[outbox_id]
                continue
            if watched.shown is not None and shown != watched.shown:
                changed.add(watched.conversation_id)
            watched.shown = shown
            if shown.state in SETTLED:
                del self._watched[outbox_id]
        return changed
