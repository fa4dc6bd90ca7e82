"""Who runs what: a group's lease across worker processes, and the workers' presence.

On PostgreSQL any number of ``omnicx worker`` processes run. Each group is led by one of
them at a time: the leader holds a session-level advisory lock on a connection of its
own, so a worker that dies (even by SIGKILL) loses the lease with its connection and a
standby takes over within a few seconds. The lease is only about not wasting work:
correctness comes from the offset rows, which every batch locks and checks.

SQLite has one worker process (the embedded server's child), so the lease is always held.

Every worker also records that it is alive (``worker_presence``); ``omnicx status``
lists them and a replay refuses to rewind groups while any is running.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, text
from sqlalchemy.orm import Session

from omnicx.core.database import Database
from omnicx.core.eventlog.models import WorkerPresence
from omnicx.core.time import as_datetime, utcnow

log = logging.getLogger(__name__)

# How often a standby asks for a lease, and how often a leader checks it still holds it.
LEASE_RETRY_SECONDS = 2.0
LEASE_CHECK_SECONDS = 5.0
# A worker refreshes its presence this often, and counts as gone after PRESENCE_TIMEOUT.
PRESENCE_INTERVAL_SECONDS = 5.0
PRESENCE_TIMEOUT = timedelta(seconds=20)


def lease_key(group: str) -> int:
    """The advisory lock key of a group (a stable 63-bit number from its name)."""
    digest = hashlib.sha256(f"omnicx.group:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class GroupLease:
    """Leadership of one group for this process; see the module docstring."""

    retry_seconds = LEASE_RETRY_SECONDS

    def __init__(self, database: Database, group: str):
        self.database = database
        self.group = group
        self._connection: Connection | None = None
        self._checked_at = 0.0

    def hold(self) -> bool:
        """True if this process leads the group (taking the lease if it is free)."""
        if self.database.sqlite:
            return True
        if self._connection is not None:
            if time.monotonic() - self._checked_at < LEASE_CHECK_SECONDS:
                return True
            try:
                self._connection.execute(text("SELECT 1"))
                self._checked_at = time.monotonic()
                return True
            except Exception:
                log.warning("group %s: lost the lease's connection", self.group)
                self.release()
        connection = self.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": lease_key(self.group)}
            ).scalar()
        except Exception:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        log.info("group %s: this worker leads it now", self.group)
        self._connection, self._checked_at = connection, time.monotonic()
        return True

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lease_key(self.group)})
        except Exception as exc:  # closing the connection releases it anyway
            log.debug("releasing the lease of %s: %s", self.group, exc)
        finally:
            connection.close()


class Presence:
    """This worker's row in ``worker_presence``, refreshed by a thread until stopped."""

    def __init__(self, database: Database, groups: list[str]):
        self.database = database
        self.id = uuid.uuid4().hex
        self.groups = groups

    def beat(self) -> None:
        now = utcnow()
        with self.database.write() as session:
            row = session.get(WorkerPresence, self.id)
            if row is None:
                session.add(
                    WorkerPresence(
                        id=self.id,
                        host=socket.gethostname(),
                        pid=os.getpid(),
                        groups=",".join(self.groups),
                        started_at=now,
                        seen_at=now,
                    )
                )
            else:
                row.seen_at = now

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.beat()
            except Exception:
                log.exception("recording this worker's presence failed")
            stop.wait(PRESENCE_INTERVAL_SECONDS)
        self.leave()

    def leave(self) -> None:
        try:
            with self.database.write() as session:
                session.execute(delete(WorkerPresence).where(WorkerPresence.id == self.id))
        except Exception:
            log.exception("removing this worker's presence failed")


@dataclass(frozen=True)
class RunningWorker:
    host: str
    pid: int
    groups: str
    started_at: datetime
    seen_at: datetime


def running_workers(session: Session) -> list[RunningWorker]:
    """Workers seen within PRESENCE_TIMEOUT, oldest first."""
    rows = session.scalars(
        select(WorkerPresence)
        .where(WorkerPresence.seen_at > utcnow() - PRESENCE_TIMEOUT)
        .order_by(WorkerPresence.started_at)
    )
    return [
        RunningWorker(w.host, w.pid, w.groups, as_datetime(w.started_at), as_datetime(w.seen_at))
        for w in rows
    ]
