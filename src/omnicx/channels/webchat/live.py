"""Pushing transcript lines to the sockets this process holds, whichever process wrote them.

The dispatcher that records a reply usually runs in another process (``omnicx worker``,
or any of several API processes in production), so an in-memory signal cannot reach the
socket. Each API process runs one follower that polls the transcript every 200 ms with
an indexed range read (``id`` above the last seen) and hands new lines to the sockets
subscribed to their thread. One query per process per poll, however many sockets are
open; it works the same on SQLite and PostgreSQL, needs no extra connection per socket,
and keeps the transcript-to-socket delay under ~250 ms. PostgreSQL LISTEN/NOTIFY would
save the idle polls but needs a dedicated connection per process and a second code path
for SQLite; the poll is the simpler thing that meets the target.

On PostgreSQL ids come from a sequence, so a row may commit after a higher id was
already seen. The follower therefore re-reads a short window below the highest id
(only ids and thread keys, recent rows only) and pushes what it had not seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import select

from omnicx.channels.webchat.models import WebchatMessage
from omnicx.channels.webchat.transcript import TranscriptLine, last_line_id, line_of
from omnicx.core.database import Database
from omnicx.core.time import utcnow

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
# How far below the highest id seen a late commit is still looked for, in ids and time.
OVERLAP_IDS = 512
OVERLAP_TIME = timedelta(seconds=30)

ThreadKey = tuple[int, str]


class TranscriptFollower:
    """Follows the transcript table and fans new lines out to subscribed sockets."""

    def __init__(self, database: Database, poll_seconds: float = POLL_SECONDS):
        self.database = database
        self.poll_seconds = poll_seconds
        self._subscribers: dict[ThreadKey, set[asyncio.Queue[TranscriptLine]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._high: int | None = None
        self._seen: set[int] = set()

    async def subscribe(self, channel_id: int, thread: str) -> asyncio.Queue[TranscriptLine]:
        """A queue that receives the thread's lines written from now on."""
        if self._high is None:
            self._high = await asyncio.to_thread(self._last_id)
        queue: asyncio.Queue[TranscriptLine] = asyncio.Queue(maxsize=1000)
        self._subscribers.setdefault((channel_id, thread), set()).add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="webchat-follower")
        return queue

    def unsubscribe(
        self, channel_id: int, thread: str, queue: asyncio.Queue[TranscriptLine]
    ) -> None:
        queues = self._subscribers.get((channel_id, thread))
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[(channel_id, thread)]

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _last_id(self) -> int:
        with self.database.read() as session:
            return last_line_id(session)

    async def _run(self) -> None:
        while True:
            try:
                for line in await asyncio.to_thread(self._poll):
                    for queue in self._subscribers.get((line.channel_id, line.thread), ()):
                        if not queue.full():  # a socket that stopped reading loses lines,
                            queue.put_nowait(line)  # it gets them as history on reconnect
            except Exception:
                log.exception("web chat follower poll failed")
                await asyncio.sleep(1.0)
            await asyncio.sleep(self.poll_seconds)

    def _poll(self) -> list[TranscriptLine]:
        high = self._high or 0
        wanted: list[int] = []
        with self.database.read() as session:
            recent = session.execute(
                select(WebchatMessage.id, WebchatMessage.channel_id, WebchatMessage.thread)
                .where(
                    WebchatMessage.id > max(0, high - OVERLAP_IDS),
                    WebchatMessage.created_at >= utcnow() - OVERLAP_TIME,
                )
                .order_by(WebchatMessage.id)
                .limit(2000)
            ).all()
            for line_id, channel_id, thread in recent:
                if line_id in self._seen or line_id <= high - OVERLAP_IDS:
                    continue
                self._seen.add(line_id)
                high = max(high, line_id)
                if (channel_id, thread) in self._subscribers:
                    wanted.append(line_id)
            lines = (
                [
                    line_of(row)
                    for row in session.scalars(
                        select(WebchatMessage)
                        .where(WebchatMessage.id.in_(wanted))
                        .order_by(WebchatMessage.id)
                    )
                ]
                if wanted
                else []
            )
        self._high = high
        self._seen = {i for i in self._seen if i > high - OVERLAP_IDS}
        return lines
