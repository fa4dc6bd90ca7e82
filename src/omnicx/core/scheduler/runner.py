"""The runner: claims due jobs with a lease, fires each once, retries failures with backoff.

Shaped like the outbox dispatcher. A pass has two transactions:

1. **claim**: due ``pending`` jobs (and ``running`` ones whose lease ran out: their runner
   died) become ``running`` with this runner as lease owner until now + the kind's lease;
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL lets several runners claim side by side, and
   SQLite has a single writer anyway. A claim counts as an attempt, so a job that kills
   its runner every time ends ``failed`` instead of looping.
2. **fire**: the claimed rows still leased to this runner are locked again, each
   handler runs in a savepoint, and the same transaction marks the fired jobs ``done``
   (and failed ones ``pending`` at a backed-off time, or ``failed``). A job's effects and
   its completion commit together: a crash before the commit leaves it ``running`` until
   the lease runs out and another pass claims it; after the commit it is ``done``. A job
   re-scheduled or cancelled meanwhile is no longer leased to this runner and is skipped.

Detached handlers (see ``registry``) run in a thread of their own between the claim and a
short transaction that records the outcome.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from omnicx.core.database import Database, table_of
from omnicx.core.scheduler.alarm import Alarm, alarm
from omnicx.core.scheduler.models import ScheduledJob
from omnicx.core.scheduler.registry import Detached, FiredJob, InTransaction, Registry, handlers
from omnicx.core.serialization import loads
from omnicx.core.time import as_datetime, utcnow

log = logging.getLogger(__name__)

# With nothing due sooner, a runner looks again this often: jobs scheduled by another
# process (one that cannot ring this process's alarm) fire at most this late.
MAX_IDLE_SECONDS = 2.0
# Detached jobs running at once in one runner (each in a thread of its own).
MAX_DETACHED = 8
FULL_PAUSE = timedelta(milliseconds=200)
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 3600.0
ERROR_MAX = 2000


def backoff(attempts: int, base: float = BACKOFF_BASE_SECONDS) -> timedelta:
    """Exponential backoff with jitter (between half and all of the step), capped."""
    ceiling = min(BACKOFF_MAX_SECONDS, base * (2 ** (attempts - 1)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX]


class Runner:
    def __init__(
        self,
        database: Database,
        registry: Registry | None = None,
        *,
        batch: int = 500,
        max_attempts: int = 8,
        retry_base_seconds: float = BACKOFF_BASE_SECONDS,
        owner: str | None = None,
        wake: Alarm | None = None,
    ):
        self.database = database
        self.registry = registry if registry is not None else handlers
        self.batch = batch
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.alarm = wake if wake is not None else alarm
        self.jobs = table_of(ScheduledJob)
        self.detached: list[threading.Thread] = []

    # -- one pass ------------------------------------------------------------------------

    def run_due(self) -> int:
        """Claim up to one batch of due jobs and fire them; returns how many were claimed.

        Detached jobs run in threads of their own, so that a long one (retention) does
        not hold back the jobs due meanwhile; ``wait_detached`` waits for them. At most
        ``MAX_DETACHED`` run at once: the others stay due for a later pass (a burst of
        new WeChat followers is hundreds of user-info fetches at once; in a thread each,
        they once slowed the pipeline beside them tenfold).
        """
        self.detached = [thread for thread in self.detached if thread.is_alive()]
        claimed = self._claim(self.batch, MAX_DETACHED - len(self.detached))
        inline = [job_id for job_id, kind in claimed if not self._detached(kind)]
        if inline:
            self._fire_in_transaction(inline)
        for job_id, kind in claimed:
            if self._detached(kind):
                thread = threading.Thread(
                    target=self._fire_detached, args=(job_id,), name=f"omnicx-job-{kind}"
                )
                thread.daemon = True
                thread.start()
                self.detached.append(thread)
        self.detached = [thread for thread in self.detached if thread.is_alive()]
        return len(claimed)

    def wait_detached(self, timeout: float | None = None) -> None:
        """Wait for the detached jobs this runner started."""
        for thread in self.detached:
            thread.join(timeout)
        self.detached = [thread for thread in self.detached if thread.is_alive()]

    def run_until_idle(self) -> int:
        """Run passes until nothing is due, detached jobs included; returns how many jobs
        were claimed."""
        total = 0
        while True:
            # Detached jobs running as the pass begins may have left others due for want
            # of a thread: after waiting for them, look again.
            busy = bool(self.detached)
            claimed = self.run_due()
            self.wait_detached()
            if claimed == 0 and not busy:
                return total
            total += claimed

    def _detached(self, kind: str) -> bool:
        registration = self.registry.kinds.get(kind)
        return registration is not None and registration.detached

    def _claim(self, limit: int, room: int) -> list[tuple[int, str]]:
        """Lease up to ``limit`` due jobs run in a transaction and ``room`` detached ones."""
        detached, now = self.registry.detached_kinds(), utcnow()
        kinds = self.jobs.c.kind
        with self.database.write() as session:
            rows = self._claimable(session, now, kinds.not_in(detached), limit)
            if room > 0 and detached:
                rows += self._claimable(session, now, kinds.in_(detached), room)
            by_lease: dict[timedelta, list[int]] = {}
            for job_id, kind, _ in rows:
                by_lease.setdefault(self.registry.lease_of(kind), []).append(job_id)
            for lease, ids in by_lease.items():
                session.execute(
                    update(self.jobs)
                    .where(self.jobs.c.id.in_(ids))
                    .values(
                        status="running",
                        attempts=self.jobs.c.attempts + 1,
                        lease_owner=self.owner,
                        lease_expires_at=now + lease,
                        updated_at=now,
                    )
                )
        return [(job_id, kind) for job_id, kind, _ in rows]

    def _claimable(
        self, session: Session, now: datetime, kinds: Any, limit: int
    ) -> list[tuple[int, str, int]]:
        """Up to ``limit`` jobs of these kinds to claim: leases run out first (a runner
        stopped holding them; given up after ``max_attempts``), then the due ones."""
        jobs = self.jobs
        expired = (
            select(jobs.c.id, jobs.c.kind, jobs.c.attempts)
            .where(kinds, jobs.c.status == "running", jobs.c.lease_expires_at <= now)
            .order_by(jobs.c.lease_expires_at)
            .limit(limit)
        )
        due = (
            select(jobs.c.id, jobs.c.kind, jobs.c.attempts)
            .where(kinds, jobs.c.status == "pending", jobs.c.due_at <= now)
            .order_by(jobs.c.due_at)
        )
        if not self.database.sqlite:
            expired = expired.with_for_update(skip_locked=True)
            due = due.with_for_update(skip_locked=True)
        rows = [(int(r[0]), str(r[1]), int(r[2])) for r in session.execute(expired)]
        exhausted = [job_id for job_id, _, attempts in rows if attempts >= self.max_attempts]
        if exhausted:
            # Its runner died holding it every time: stop trying.
            self._give_up(session, exhausted, now)
        rows = [row for row in rows if row[2] < self.max_attempts]
        if len(rows) < limit:
            rows += [
                (int(r[0]), str(r[1]), int(r[2]))
                for r in session.execute(due.limit(limit - len(rows)))
            ]
        return rows

    def _give_up(self, session: Session, ids: Sequence[int], now: datetime) -> None:
        jobs = self.jobs
        session.execute(
            update(jobs)
            .where(jobs.c.id.in_(ids))
            .values(
                status="failed",
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
                last_error=f"its runner stopped while holding it {self.max_attempts} times",
            )
        )
        log.warning("scheduled jobs %s failed: their runners kept stopping", list(ids))

    def _leased(self, ids: Sequence[int], *, lock: bool) -> Any:
        stmt = select(
            ScheduledJob.id,
            ScheduledJob.kind,
            ScheduledJob.key,
            ScheduledJob.due_at,
            ScheduledJob.payload,
            ScheduledJob.attempts,
        ).where(
            ScheduledJob.id.in_(ids),
            ScheduledJob.status == "running",
            ScheduledJob.lease_owner == self.owner,
        )
        # Waits for a cancel or re-schedule in flight, then sees whether we still hold it.
        return stmt.with_for_update() if lock and not self.database.sqlite else stmt

    def _fire_in_transaction(self, ids: Sequence[int]) -> None:
        # Handlers rarely fail: run the batch without a savepoint per job (they cost more
        # than a typical handler). If one fails, that transaction is rolled back whole and
        # the batch runs again with each job in its own savepoint.
        try:
            self._fire_batch(ids, isolated=False)
        except _HandlerFailed:
            self._fire_batch(ids, isolated=True)

    def _fire_batch(self, ids: Sequence[int], *, isolated: bool) -> None:
        with self.database.write() as session:
            fired: list[int] = []
            failures: list[tuple[int, int, str]] = []
            for row in session.execute(self._leased(ids, lock=True)).all():
                job = _fired_job(row)
                registration = self.registry.kinds.get(job.kind)
                try:
                    if registration is None:
                        raise LookupError(f"no handler for jobs of kind {job.kind!r}")
                    handler = cast(InTransaction, registration.handler)
                    if isolated:
                        with session.begin_nested():
                            handler(session, job)
                    else:
                        handler(session, job)
                        session.flush()  # a handler's failing write fails here, not later
                    fired.append(job.id)
                except Exception as exc:
                    if not isolated:
                        raise _HandlerFailed from exc
                    log.warning("scheduled job %s (%s) failed: %s", job.key, job.kind, exc)
                    failures.append((job.id, job.attempt, describe(exc)))
            self._record(session, fired, failures)

    def _fire_detached(self, job_id: int) -> None:
        try:
            self._run_detached(job_id)
        except Exception:
            # Its lease runs out and another pass claims it again.
            log.exception("detached scheduled job %s could not be run or recorded", job_id)

    def _run_detached(self, job_id: int) -> None:
        with self.database.read() as session:
            row = session.execute(self._leased([job_id], lock=False)).first()
        if row is None:
            return
        job = _fired_job(row)
        handler = cast(Detached, self.registry.kinds[job.kind].handler)
        error: str | None = None
        try:
            handler(self.database, job)
        except Exception as exc:
            log.warning("scheduled job %s (%s) failed: %s", job.key, job.kind, exc)
            error = describe(exc)
        with self.database.write() as session:
            if error is None:
                self._record(session, [job_id], [])
            else:
                self._record(session, [], [(job_id, job.attempt, error)])

    def _record(
        self, session: Session, fired: Sequence[int], failures: Sequence[tuple[int, int, str]]
    ) -> None:
        """Mark fired jobs done and failed ones for a retry or failed, if still ours."""
        jobs, now = self.jobs, utcnow()
        ours = (jobs.c.status == "running", jobs.c.lease_owner == self.owner)
        released = {"lease_owner": None, "lease_expires_at": None, "updated_at": now}
        if fired:
            done = session.execute(
                update(jobs)
                .where(jobs.c.id.in_(fired), *ours)
                .values(status="done", fired_at=now, last_error=None, **released)
            )
            if cast(CursorResult[Any], done).rowcount < len(fired):
                # A handler that re-scheduled its own key (a recurring job) left it pending.
                session.execute(
                    update(jobs)
                    .where(jobs.c.id.in_(fired), jobs.c.status == "pending")
                    .values(fired_at=now)
                )
        for job_id, attempts, error in failures:
            if attempts >= self.max_attempts:
                outcome: dict[str, Any] = {"status": "failed"}
                log.warning("scheduled job %s failed after %s attempts", job_id, attempts)
            else:
                retry_at = now + backoff(attempts, self.retry_base_seconds)
                outcome = {"status": "pending", "due_at": retry_at}
            session.execute(
                update(jobs)
                .where(jobs.c.id == job_id, *ours)
                .values(last_error=error, **outcome, **released)
            )

    # -- the loop ------------------------------------------------------------------------

    def next_wake(self) -> datetime:
        """The next due time or lease expiry, but no later than ``MAX_IDLE_SECONDS``."""
        with self.database.read() as session:
            due = session.scalar(
                select(func.min(ScheduledJob.due_at)).where(ScheduledJob.status == "pending")
            )
            lease = session.scalar(
                select(func.min(ScheduledJob.lease_expires_at)).where(
                    ScheduledJob.status == "running"
                )
            )
        times = [as_datetime(value) for value in (due, lease) if value is not None]
        return min([utcnow() + timedelta(seconds=MAX_IDLE_SECONDS), *times])

    def run_forever(self, stop: threading.Event) -> None:
        """Fire jobs as they fall due until ``stop`` is set."""
        while not stop.is_set():
            try:
                if self.run_due() >= self.batch:
                    continue  # more may be due right now
                wake = self.next_wake()
                self.detached = [thread for thread in self.detached if thread.is_alive()]
                if len(self.detached) >= MAX_DETACHED:
                    # Detached jobs due meanwhile wait for a thread: look again shortly,
                    # not at once (the claims are write transactions).
                    wake = max(wake, utcnow() + FULL_PAUSE)
                self.alarm.sleep_until(wake, stop)
            except Exception:
                log.exception("scheduler pass failed")
                stop.wait(2.0)


class _HandlerFailed(Exception):
    """A handler failed in a batch run without savepoints: run it again isolated."""


def _fired_job(row: Any) -> FiredJob:
    payload = loads(row.payload) if row.payload else {}
    return FiredJob(
        id=row.id,
        kind=row.kind,
        key=row.key,
        due_at=as_datetime(row.due_at),
        payload=payload if isinstance(payload, dict) else {},
        attempt=row.attempts,
    )
