"""Waking the runner early when this process schedules a job sooner than it expected.

``schedule`` notes the earliest due time it wrote in the session; once that session
commits, the alarm rings with it. A runner sleeping until a later time wakes in time for
the new job. Jobs scheduled by another process are seen at the runner's next poll
(at most ``runner.MAX_IDLE_SECONDS`` later).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from omnicx.core.time import utcnow

EARLIEST = "omnicx.scheduler.earliest"
# Waits are cut into slices this long so that a stop request is noticed quickly.
STOP_CHECK_SECONDS = 0.5


class Alarm:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._earliest: datetime | None = None

    def ring(self, due_at: datetime) -> None:
        """A job now exists that falls due at ``due_at``."""
        with self._changed:
            if self._earliest is None or due_at < self._earliest:
                self._earliest = due_at
                self._changed.notify_all()

    def sleep_until(self, wake_at: datetime, stop: threading.Event) -> None:
        """Sleep until ``wake_at``, or until an earlier job rung meanwhile falls due."""
        with self._changed:
            while not stop.is_set():
                if self._earliest is not None:
                    wake_at = min(wake_at, self._earliest)
                    self._earliest = None
                remaining = (wake_at - utcnow()).total_seconds()
                if remaining <= 0:
                    return
                self._changed.wait(min(remaining, STOP_CHECK_SECONDS))


alarm = Alarm()


def note_due(session: Session, due_at: datetime) -> None:
    """Remember, in the session, a due time to ring once the session commits."""
    earliest = session.info.get(EARLIEST)
    if earliest is None or due_at < earliest:
        session.info[EARLIEST] = due_at


@event.listens_for(Session, "after_commit")
def _ring_after_commit(session: Session) -> None:
    due_at = session.info.pop(EARLIEST, None)
    if due_at is not None:
        alarm.ring(due_at)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session, *_: Any) -> None:
    session.info.pop(EARLIEST, None)
