"""Pushing transcript lines to the sockets this process holds, whichever process wrote them.

The dispatcher that records a reply usually runs in another process (``omnicx worker``,
or any of several API processes in production), so each API process runs one follower
(``core.follow``) that reads the transcript every 200 ms — only ids and thread keys of
lines above the last seen, and of recent ones — and loads and hands the lines of threads
with a socket here to those sockets. That keeps the transcript-to-socket delay under
~250 ms whatever the number of sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.channels.webchat.models import WebchatMessage
from omnicx.channels.webchat.transcript import TranscriptLine, line_of
from omnicx.core.database import Database
from omnicx.core.follow import Follower, Watermark
from omnicx.core.time import utcnow

POLL_SECONDS = 0.2
# Lines older than this are not looked for as late commits (they are history).
OVERLAP_TIME = timedelta(seconds=30)

ThreadKey = tuple[int, str]


class TranscriptFollower(Follower[TranscriptLine]):
    """Follows the transcript table and fans new lines out to subscribed sockets."""

    def __init__(self, database: Database, poll_seconds: float = POLL_SECONDS):
        super().__init__(database, "webchat-follower", poll_seconds)
        self._subscribers: dict[ThreadKey, set[asyncio.Queue[TranscriptLine]]] = {}
        self._lines = Watermark(WebchatMessage.id, self.overlap_ids)

    async def subscribe(self, channel_id: int, thread: str) -> asyncio.Queue[TranscriptLine]:
        """A queue that receives the thread's lines written from now on."""
        queue: asyncio.Queue[TranscriptLine] = asyncio.Queue(maxsize=1000)
        self._subscribers.setdefault((channel_id, thread), set()).add(queue)
        try:
            await self.start()
        except BaseException:
            self.unsubscribe(channel_id, thread, queue)  # nobody will read it
            raise
        return queue

    def unsubscribe(
        self, channel_id: int, thread: str, queue: asyncio.Queue[TranscriptLine]
    ) -> None:
        queues = self._subscribers.get((channel_id, thread))
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[(channel_id, thread)]

    def listening(self) -> bool:
        return bool(self._subscribers)

    def begin(self, session: Session) -> None:
        self._lines.restart(session)

    def poll(self, session: Session) -> Sequence[TranscriptLine]:
        recent = session.execute(
            select(WebchatMessage.id, WebchatMessage.channel_id, WebchatMessage.thread)
            .where(
                WebchatMessage.id > self._lines.low,
                WebchatMessage.created_at >= utcnow() - OVERLAP_TIME,
            )
            .order_by(WebchatMessage.id)
            .limit(2000)
        ).all()
        fresh = set(self._lines.fresh(row.id for row in recent))
        wanted = [
            row.id
            for row in recent
            if row.id in fresh and (row.channel_id, row.thread) in self._subscribers
        ]
        if not wanted:
            return []
        rows = session.scalars(
            select(WebchatMessage).where(WebchatMessage.id.in_(wanted)).order_by(WebchatMessage.id)
        )
        return [line_of(row) for row in rows]

    def deliver(self, line: TranscriptLine) -> None:
        for queue in self._subscribers.get((line.channel_id, line.thread), ()):
            if not queue.full():  # a socket that stopped reading loses lines,
                queue.put_nowait(line)  # it gets them as history on reconnect
