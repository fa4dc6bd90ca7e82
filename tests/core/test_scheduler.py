"""The scheduler: jobs fire when due and not before, once, with their effects; re-schedule
and cancel by key; failing handlers retry with backoff, then fail; competing runners
and a runner killed mid-batch neither lose nor double a job. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from omnicx.core import scheduler
from omnicx.core.database import Database
from omnicx.core.migrate import downgrade, upgrade
from omnicx.core.outbox import OutboxMessage, enqueue
from omnicx.core.scheduler import FiredJob, Registry, Runner, ScheduledJob, runner
from omnicx.core.scheduler.runner import MAX_DETACHED
from omnicx.core.serialization import loads
from omnicx.core.time import as_utc, utcnow
from tests.conftest import _sqlalchemy_url
from tests.core import scheduler_worker
from tests.core.test_migrations import empty_database  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]


def effect(session: Session, job: FiredJob) -> None:
    """A handler whose effect is an outbox row: not idempotent, so doubles show."""
    enqueue(session, "test.fired", {"key": job.key, "attempt": job.attempt})


def fired_keys(db: Database) -> Counter[str]:
    with db.read() as session:
        payloads = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.kind == "test.fired")
        )
        return Counter(loads(p)["key"] for p in payloads)


def job(db: Database, key: str) -> ScheduledJob:
    with db.read() as session:
        found = session.scalars(select(ScheduledJob).where(ScheduledJob.key == key)).one()
        session.expunge(found)
        return found


def schedule(db: Database, key: str, due_at: datetime, kind: str = "test.effect", **payload):
    with db.write() as session:
        scheduler.schedule(session, kind, key, due_at, payload)


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def registry() -> Registry:
    jobs = Registry()
    jobs.register("test.effect", effect)
    return jobs


@pytest.fixture
def running(db: Database, registry: Registry) -> Iterator[Runner]:
    """A runner looping in a thread, as in a worker."""
    loop = Runner(db, registry)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run_forever, args=(stop,), daemon=True)
    thread.start()
    yield loop
    stop.set()
    thread.join(10)


def test_migration_0004_adds_and_removes_the_jobs_table(empty_database):  # noqa: F811
    url = empty_database
    upgrade(url, "0004")
    engine = create_engine(url if url.startswith("sqlite") else _sqlalchemy_url(url))
    assert "scheduled_jobs" in inspect(engine).get_table_names()
    indexes = {
        ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("scheduled_jobs")
    }
    assert indexes["ix_scheduled_jobs_due"] == ["status", "due_at"]
    upgrade(url)
    migrated = Database(url)
    with migrated.write() as session:
        scheduler.schedule(session, "test.effect", "sla:1", utcnow())
    migrated.dispose()
    downgrade(url, "0003")
    assert "scheduled_jobs" not in inspect(engine).get_table_names()
    engine.dispose()


def test_a_job_fires_when_due_and_not_before(db, registry):
    due = utcnow() + timedelta(seconds=1)
    schedule(db, "sla.first_response:conversation:42", due, note="首次响应")
    one = Runner(db, registry)
    assert one.run_due() == 0, "not due yet"
    assert fired_keys(db) == Counter()
    time.sleep((due - utcnow()).total_seconds() + 0.05)
    assert one.run_due() == 1
    fired = job(db, "sla.first_response:conversation:42")
    assert fired.status == "done" and fired.attempts == 1 and fired.lease_owner is None
    assert fired.fired_at is not None and as_utc(fired.fired_at) >= due
    assert fired_keys(db) == Counter({"sla.first_response:conversation:42": 1})
    assert one.run_due() == 0, "fired once"
    assert fired_keys(db) == Counter({"sla.first_response:conversation:42": 1})


def test_the_running_loop_fires_on_time(db, running):
    due = utcnow() + timedelta(seconds=0.6)
    schedule(db, "snooze:conversation:1", due)
    wait_for(lambda: job(db, "snooze:conversation:1").status == "done")
    fired_at = as_utc(job(db, "snooze:conversation:1").fired_at)  # type: ignore[arg-type]
    assert due <= fired_at < due + timedelta(seconds=1.5)


def test_a_job_scheduled_sooner_in_the_process_wakes_the_sleeping_runner(db, running, monkeypatch):
    # With nothing due, the runner would sleep this long; the alarm must cut it short.
    monkeypatch.setattr(runner, "MAX_IDLE_SECONDS", 60.0)
    schedule(db, "later", utcnow() + timedelta(hours=1))
    time.sleep(0.7)  # the runner is asleep until the hour-away job (or 60 s)
    due = utcnow() + timedelta(seconds=0.3)
    schedule(db, "sooner", due)
    wait_for(lambda: job(db, "sooner").status == "done", seconds=5)
    # Far sooner than the 60 s it would have slept (with room for a loaded machine).
    assert as_utc(job(db, "sooner").fired_at) < due + timedelta(seconds=5)  # type: ignore[arg-type]
    assert job(db, "later").status == "pending"


def test_rescheduling_by_key_moves_the_job_and_cancel_stops_it(db, registry):
    now = utcnow()
    schedule(db, "ticket:7:reminder", now - timedelta(seconds=1), text="第一次")
    schedule(db, "ticket:7:reminder", now + timedelta(hours=1), text="第二次")
    schedule(db, "ticket:8:reminder", now - timedelta(seconds=1))
    with db.write() as session:
        assert scheduler.cancel(session, "ticket:8:reminder")
        assert not scheduler.cancel(session, "ticket:8:reminder"), "already cancelled"
        assert not scheduler.cancel(session, "no-such-key")
    one = Runner(db, registry)
    assert one.run_due() == 0
    moved = job(db, "ticket:7:reminder")
    assert moved.status == "pending" and as_utc(moved.due_at) > now + timedelta(minutes=59)
    assert loads(moved.payload) == {"text": "第二次"}
    assert job(db, "ticket:8:reminder").status == "cancelled"
    with db.read() as session:
        assert [row.key for row in scheduler.list_jobs(session, statuses=["pending"])] == [
            "ticket:7:reminder"
        ]
    # Re-scheduling a cancelled key revives it; ensure_scheduled leaves an active one alone.
    schedule(db, "ticket:8:reminder", utcnow() - timedelta(seconds=1))
    with db.write() as session:
        assert not scheduler.ensure_scheduled(session, "test.effect", "ticket:7:reminder", now)
    assert one.run_due() == 1
    assert fired_keys(db) == Counter({"ticket:8:reminder": 1})


def test_a_job_cancelled_after_its_claim_does_not_fire(db, registry):
    schedule(db, "snooze:conversation:9", utcnow() - timedelta(seconds=1))
    one = Runner(db, registry)
    claimed = one._claim(10, 0)
    assert [key for key, _ in claimed] == [job(db, "snooze:conversation:9").id]
    with db.write() as session:
        assert scheduler.cancel(session, "snooze:conversation:9")
    one._fire_in_transaction([job_id for job_id, _ in claimed])
    assert job(db, "snooze:conversation:9").status == "cancelled"
    assert fired_keys(db) == Counter()


def test_a_failing_handler_is_retried_with_backoff_then_fails(db):
    calls: dict[int, float] = {}  # attempt -> when (a batch may run a handler twice)

    def flaky(session: Session, job: FiredJob) -> None:
        calls.setdefault(job.attempt, time.monotonic())
        effect(session, job)  # rolled back with the failed attempt
        raise RuntimeError(f"渠道暂时不可用 (attempt {job.attempt})")

    jobs = Registry()
    jobs.register("test.flaky", flaky)
    jobs.register("test.effect", effect)
    one = Runner(db, jobs, max_attempts=3, retry_base_seconds=0.4)
    schedule(db, "flaky", utcnow() - timedelta(seconds=1), kind="test.flaky")
    schedule(db, "steady", utcnow() - timedelta(seconds=1))
    assert one.run_due() == 2
    assert job(db, "steady").status == "done", "a failing job does not hold back its batch"
    retried = job(db, "flaky")
    assert retried.status == "pending" and retried.attempts == 1
    assert "attempt 1" in (retried.last_error or "")
    assert as_utc(retried.due_at) >= utcnow() + timedelta(seconds=0.1), "backed off"
    wait_for(lambda: one.run_due() >= 0 and job(db, "flaky").status == "failed", seconds=10)
    failed = job(db, "flaky")
    assert failed.attempts == 3 and "attempt 3" in (failed.last_error or "")
    assert sorted(calls) == [1, 2, 3]
    # Waits of at least half the step: 0.2 s after the first attempt, 0.4 s after the second.
    assert calls[2] - calls[1] >= 0.2 and calls[3] - calls[2] >= 0.4
    assert fired_keys(db) == Counter({"steady": 1}), "a failed attempt leaves no effect"
    assert one.run_due() == 0


def test_a_long_detached_job_does_not_hold_back_the_others(db, registry):
    started, release = threading.Event(), threading.Event()

    def long_job(database: Database, job: FiredJob) -> None:
        started.set()
        release.wait(10)

    registry.register_detached("test.long", long_job, lease=timedelta(minutes=5))
    schedule(db, "retention-like", utcnow() - timedelta(seconds=1), kind="test.long")
    one = Runner(db, registry)
    assert one.run_due() == 1 and started.wait(5)
    assert job(db, "retention-like").status == "running"
    schedule(db, "sla:conversation:5", utcnow() - timedelta(seconds=1))
    assert one.run_due() == 1
    assert job(db, "sla:conversation:5").status == "done", "fired while the long job runs"
    release.set()
    one.wait_detached(10)
    assert job(db, "retention-like").status == "done"


def test_a_burst_of_detached_jobs_runs_a_few_at_a_time_and_all_of_them(db, registry):
    # Hundreds of new WeChat followers are hundreds of user-info fetches due at once: in a
    # thread each they crowded out the pipeline beside them. At most MAX_DETACHED run at
    # once; the rest wait due, and the jobs run in a transaction are not held back.
    running, most, release = set(), [0], threading.Event()
    guard = threading.Lock()

    def fetch(database: Database, job: FiredJob) -> None:
        with guard:
            running.add(job.key)
            most[0] = max(most[0], len(running))
        release.wait(10)
        with guard:
            running.discard(job.key)

    registry.register_detached("test.fetch", fetch, lease=timedelta(minutes=1))
    due = utcnow() - timedelta(seconds=1)
    for n in range(3 * MAX_DETACHED):
        schedule(db, f"follower:{n}", due, kind="test.fetch")
    schedule(db, "sla:conversation:6", due)
    one = Runner(db, registry)
    assert one.run_due() == MAX_DETACHED + 1  # a thread for each of 8, and the SLA job
    assert job(db, "sla:conversation:6").status == "done"
    assert one.run_due() == 0, "no thread free: the other fetches stay due"
    wait_for(lambda: len(running) == MAX_DETACHED)
    release.set()
    one.run_until_idle()
    assert most[0] == MAX_DETACHED
    with db.read() as session:
        statuses = Counter(
            session.scalars(select(ScheduledJob.status).where(ScheduledJob.kind == "test.fetch"))
        )
    assert statuses == Counter({"done": 3 * MAX_DETACHED})


def test_a_job_of_an_unknown_kind_is_retried_not_lost(db, registry):
    schedule(db, "automation:rule:3", utcnow() - timedelta(seconds=1), kind="automation.time")
    assert Runner(db, registry).run_due() == 1
    waiting = job(db, "automation:rule:3")
    assert waiting.status == "pending" and "no handler" in (waiting.last_error or "")


def test_two_runners_on_postgres_never_fire_a_job_twice(db, registry, backend):
    if backend != "postgres":
        pytest.skip("SQLite has a single writer; competing runners are a PostgreSQL matter")
    now = utcnow() - timedelta(seconds=1)
    with db.write() as session:
        for i in range(400):
            scheduler.schedule(session, "test.effect", f"race:{i}", now)
    second = Database(db.url)  # its own connections, as another process would have
    runners = [Runner(db, registry, batch=20), Runner(second, registry, batch=20)]
    claimed: list[int] = []
    threads = [
        threading.Thread(target=lambda r=r: claimed.append(r.run_until_idle())) for r in runners
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    second.dispose()
    assert sum(claimed) == 400 and min(claimed) > 0, f"both runners took part: {claimed}"
    fired = fired_keys(db)
    assert len(fired) == 400 and set(fired.values()) == {1}


@pytest.mark.slow
def test_a_runner_killed_mid_batch_loses_nothing_and_doubles_nothing(db, settings):
    jobs = JOBS_TO_KILL
    with db.write() as session:
        for i in range(jobs):
            scheduler.schedule(session, scheduler_worker.KIND, f"kill:{i:04d}", utcnow())
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.core.scheduler_worker"], cwd=ROOT, env=dict(os.environ)
    )
    try:
        # Kill once some jobs are done while a batch is leased (that is nearly always).
        wait_for(lambda: _busy_after(db, 100), seconds=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    with db.read() as session:
        counts = scheduler.status_counts(session)
    assert counts.get("done", 0) < jobs, "killed before the end"
    assert counts.get("running", 0) > 0, f"killed while holding a batch: {counts}"
    # Another runner takes over; the dead one's batch waits for its lease to run out.
    survivor = Runner(db, scheduler_worker.registry(), batch=scheduler_worker.BATCH)
    wait_for(lambda: survivor.run_due() >= 0 and _all_done(db), seconds=60)
    fired = fired_keys(db)
    assert len(fired) == jobs, "nothing lost"
    assert set(fired.values()) == {1}, "nothing doubled"


JOBS_TO_KILL = 1500


def _busy_after(db: Database, done: int) -> bool:
    with db.read() as session:
        counts = scheduler.status_counts(session)
    return counts.get("done", 0) >= done and counts.get("running", 0) > 0


def _all_done(db: Database) -> bool:
    with db.read() as session:
        return scheduler.status_counts(session) == {"done": JOBS_TO_KILL}
