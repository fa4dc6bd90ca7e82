"""A scheduler runner in a process of its own, for the SIGKILL test.

    python -m tests.core.scheduler_worker

Uses the database of the environment's settings. Its handler leaves an outbox row per
firing (an effect that is not idempotent, so a double firing shows) and takes a few
milliseconds, so that most of the time a batch is half done when the process is killed.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy.orm import Session

from omnicx.core.database import get_database
from omnicx.core.outbox import enqueue
from omnicx.core.scheduler import FiredJob, Registry, Runner

KIND = "test.effect"
LEASE = timedelta(seconds=2)
BATCH = 50


def leave_effect(session: Session, job: FiredJob) -> None:
    enqueue(session, "test.fired", {"key": job.key})
    session.flush()
    time.sleep(0.003)


def registry() -> Registry:
    jobs = Registry()
    jobs.register(KIND, leave_effect, lease=LEASE)
    return jobs


if __name__ == "__main__":
    Runner(get_database(), registry(), batch=BATCH).run_forever(threading.Event())
