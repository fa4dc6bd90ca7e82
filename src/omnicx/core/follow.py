"""Following tables that other processes write to, and handing what is new to this
process's live connections (a web chat socket, an agent's event stream).

What is written elsewhere — a reply recorded by a worker, a message placed by the desk
group, another API process's command — cannot reach this process's connections by an
in-memory signal. Each process therefore runs one follower per kind of connection, which
reads the table every few hundred milliseconds with an indexed range read (ids above the
last seen) and fans new rows out to its subscribers: one query per process per poll,
however many connections are open, the same on SQLite and PostgreSQL, and no extra
database connection per subscriber. PostgreSQL LISTEN/NOTIFY would save the idle polls
but needs a dedicated connection per process and a second code path for SQLite; the poll
is the simpler thing that meets the targets. A follower polls only while it has
subscribers.

On PostgreSQL ids come from a sequence, so a row may commit after a higher id was already
seen. A ``Watermark`` therefore re-reads a window below the highest id seen and keeps the
ids it already handed on. SQLite commits one writer at a time, so what is visible there is
always every id up to the highest: no window is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from omnicx.core.database import Database

log = logging.getLogger(__name__)

# How far below the highest id seen a late commit is still looked for (PostgreSQL).
OVERLAP_IDS = 512
Item = TypeVar("Item")
Result = TypeVar("Result")


class Watermark:
    """How far one table has been read: the highest id seen, and the ids seen within the
    late-commit window below it."""

    def __init__(self, id_column: InstrumentedAttribute[int], overlap_ids: int):
        self.id_column = id_column
        self.overlap_ids = overlap_ids
        self.high = 0
        self._seen: set[int] = set()

    def restart(self, session: Session) -> None:
        """Read from the table's end: what is there now (in the window too) is not new."""
        self.high = session.scalar(select(func.max(self.id_column))) or 0
        self._seen = (
            set(session.scalars(select(self.id_column).where(self.id_column > self.low)))
            if self.overlap_ids
            else set()
        )

    @property
    def low(self) -> int:
        """Read the ids above this one (the window included)."""
        return max(0, self.high - self.overlap_ids)

    def fresh(self, ids: Iterable[int]) -> list[int]:
        """The ids (read above ``low``) not handed on before; they count as seen now."""
        new = [i for i in ids if i > self.low and i not in self._seen]
        self.high = max([self.high, *new])
        if self.overlap_ids:
            self._seen = {i for i in (*self._seen, *new) if i > self.low}
        return new


class Follower(ABC, Generic[Item]):
    """Polls the database in a task of this process's event loop while anyone listens,
    and delivers each new item in the loop (where the subscribers' queues live)."""

    def __init__(self, database: Database, name: str, poll_seconds: float):
        self.database = database
        self.name = name
        self.poll_seconds = poll_seconds
        # No late commits on SQLite: nothing to look back for.
        self.overlap_ids = 0 if database.sqlite else OVERLAP_IDS
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    @abstractmethod
    def listening(self) -> bool:
        """Whether any subscriber is left (the poll stops when none is)."""

    @abstractmethod
    def begin(self, session: Session) -> None:
        """Set the watermarks to the tables' ends: subscribers get what comes from now."""

    @abstractmethod
    def poll(self, session: Session) -> Sequence[Item]:
        """What was written since the last poll (one query, in a worker thread)."""

    @abstractmethod
    def deliver(self, item: Item) -> None:
        """Hand one item to its subscribers (in the event loop; never blocks)."""

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Poll from now on, unless already polling (call after subscribing)."""
        async with self._starting:
            if self.polling:
                return
            await asyncio.to_thread(self._read, self.begin)
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _read(self, work: Callable[[Session], Result]) -> Result:
        with self.database.read() as session:
            return work(session)

    async def _run(self) -> None:
        while self.listening():
            try:
                items = await asyncio.to_thread(self._read, self.poll)
                for item in items:
                    self.deliver(item)
            except Exception:
                log.exception("%s: poll failed", self.name)
                await asyncio.sleep(1.0)
            await asyncio.sleep(self.poll_seconds)
