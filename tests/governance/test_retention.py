"""Retention: old behaviour events go (with their timeline rows), order events stay for
their longer period, counters stay; a dry run removes nothing; every run is reported
and audited; the scheduler runs it once per interval."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from omnicx.core import scheduler
from omnicx.core.eventlog.models import DeadLetter, EventRow
from omnicx.core.outbox import OutboxMessage, enqueue
from omnicx.core.scheduler import Registry, Runner
from omnicx.core.settings import Settings, reset_settings
from omnicx.core.time import as_utc, utcnow
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.governance import audit, retention
from omnicx.governance.models import RetentionRun
from omnicx.governance.service import SYSTEM
from omnicx.runtime import privacy as runtime_privacy
from omnicx.runtime.scheduling import wire_jobs
from tests.factories import append_calls, make_source, make_token, process

NOW = utcnow()


@pytest.fixture(autouse=True)
def wired() -> None:
    """The timeline goes with its events (the app, CLI and worker wire this too)."""
    runtime_privacy.wire()


def at(days_ago: int) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def seed(db) -> dict[str, int]:
    """Events of one customer at various ages; returns name → seq."""
    source_id, _ = make_source(db)
    calls = {
        "old page": {"type": "page", "name": "Home", "timestamp": at(400)},
        "old track": {"type": "track", "event": "Product Viewed", "timestamp": at(500)},
        "old order": {"type": "track", "event": "Order Completed", "timestamp": at(500)},
        "ancient order": {"type": "track", "event": "Order Completed", "timestamp": at(1200)},
        "old identify": {"type": "identify", "traits": {"plan": "pro"}, "timestamp": at(2000)},
        "new screen": {"type": "screen", "name": "Cart", "timestamp": at(10)},
    }
    bodies = []
    for i, (name, body) in enumerate(calls.items()):
        bodies.append({**body, "userId": "ret-user", "messageId": f"ret-{i}-{name}"})
    append_calls(db, source_id, bodies)
    process(db)
    with db.read() as session:
        rows = session.execute(select(EventRow.seq, EventRow.message_id)).all()
    return {message_id.split("-", 2)[2]: seq for seq, message_id in rows}


def remaining(db) -> tuple[set[int], set[int]]:
    with db.read() as session:
        return set(session.scalars(select(EventRow.seq))), set(
            session.scalars(select(TimelineEntry.event_seq))
        )


def test_retention_deletes_by_kind_and_keeps_counters(client, db, settings):
    seqs = seed(db)
    with db.read() as session:
        counter = session.scalar(select(CustomerProfile.event_count))
    assert counter == 6

    dry = retention.run_retention(db, settings, SYSTEM, dry_run=True)
    assert dry is not None
    report = retention.report_of(dry)
    assert report["behaviour_events"]["would_remove"] == 2
    assert report["order_events"]["would_remove"] == 1
    assert report["identify_events"] == {"days": None, "kept": True}
    assert remaining(db)[0] == set(seqs.values()), "a dry run removes nothing"

    run = retention.run_retention(db, settings, SYSTEM)
    assert run is not None and run.finished_at is not None
    report = retention.report_of(run)
    assert report["behaviour_events"]["removed"] == 2
    assert report["behaviour_events"]["also_removed"] == {"customer_timeline": 2}
    assert report["order_events"]["removed"] == 1
    assert report["order_events"]["days"] == 1095
    events, timeline = remaining(db)
    kept = {seqs["old order"], seqs["old identify"], seqs["new screen"]}
    assert events == kept and timeline == kept
    with db.read() as session:
        assert session.scalar(select(CustomerProfile.event_count)) == 6, "counters stay"
        runs = retention.recent_runs(session)
        assert [r.dry_run for r in runs] == [False, True]
        entries = audit.search(session, audit.AuditFilter(action="retention.run"))
        assert [e.target_id for e in entries] == [str(run.id), str(dry.id)]

    auth = {"Authorization": f"Bearer {make_token(db)}"}
    overview = client.get("/api/v1/privacy/retention", headers=auth).json()
    assert overview["policy"]["behaviour_events"] == 365
    assert [r["id"] for r in overview["runs"]] == [run.id, dry.id]
    again = client.post("/api/v1/privacy/retention/run", json={"dry_run": False}, headers=auth)
    assert again.status_code == 200, again.text
    assert again.json()["report"]["behaviour_events"]["removed"] == 0


def test_unprocessed_events_are_not_removed(db, settings):
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [{"type": "page", "name": "Old", "userId": "u", "messageId": "p-1", "timestamp": at(900)}],
    )
    run = retention.run_retention(db, settings, SYSTEM)
    assert run is not None
    assert retention.report_of(run)["behaviour_events"]["removed"] == 0
    assert len(remaining(db)[0]) == 1


def test_finished_outbox_messages_and_resolved_dead_letters_expire(db, settings):
    old = datetime(2020, 1, 1, tzinfo=UTC)
    with db.write() as session:
        for status in ("sent", "dead", "pending"):
            message = enqueue(session, "webhook", {"url": "http://127.0.0.1:9/"})
            message.status, message.created_at = status, old
        session.add(
            DeadLetter(processor="p", event_seq=1, reason="r", status="resolved", created_at=old)
        )
        session.add(
            DeadLetter(processor="p", event_seq=2, reason="r", status="open", created_at=old)
        )
    run = retention.run_retention(db, settings, SYSTEM)
    assert run is not None
    report = retention.report_of(run)
    assert report["outbox_messages"]["removed"] == 2
    assert report["dead_letters"]["removed"] == 1
    with db.read() as session:
        assert list(session.scalars(select(OutboxMessage.status))) == ["pending"]
        assert list(session.scalars(select(DeadLetter.status))) == ["open"]


def test_the_retention_setting_is_validated(monkeypatch):
    monkeypatch.setenv("OMNICX_RETENTION", '{"behaviour_events": 30, "interactions": null}')
    reset_settings()
    configured = Settings()
    assert configured.retention["behaviour_events"] == 30
    assert configured.retention["order_events"] == 1095, "kinds not named keep their default"
    for bad in ('{"behavior_events": 30}', '{"order_events": 0}', '{"interactions": 10}'):
        monkeypatch.setenv("OMNICX_RETENTION", bad)
        with pytest.raises(ValidationError):
            Settings()
    reset_settings()


def test_retention_runs_from_the_scheduler_once_per_interval(db, settings, monkeypatch):
    monkeypatch.setattr(runtime_privacy, "FIRST_RUN_DELAY_SECONDS", 0.0)
    jobs = wire_jobs(settings, Registry())
    for _ in range(2):  # two workers start: still one job
        runtime_privacy.schedule_retention(db, settings)
    with db.read() as session:
        assert scheduler.status_counts(session) == {"pending": 1}
    time.sleep(0.01)
    runners = [Runner(db, jobs), Runner(db, jobs)]
    threads = [threading.Thread(target=runner.run_until_idle) for runner in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with db.read() as session:
        actors = list(session.scalars(select(RetentionRun.actor)))
        (job,) = scheduler.list_jobs(session)
    assert actors == [SYSTEM.actor], "two runners, one run per interval"
    assert job.key == "retention.run" and job.status == "pending" and job.fired_at is not None
    next_due = as_utc(job.due_at) - utcnow()
    assert timedelta(hours=23, minutes=59) < next_due <= timedelta(hours=24)
    # Fired again within the interval (as after a crash mid-run): no second run, and the
    # job is still there for the next interval.
    with db.write() as session:
        scheduler.schedule(session, "retention.run", "retention.run", utcnow())
    assert runners[0].run_until_idle() == 1
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(RetentionRun)) == 1
        assert scheduler.job_status(session, "retention.run") == "pending"


def test_an_interval_of_zero_cancels_the_retention_job(db, settings, monkeypatch):
    runtime_privacy.schedule_retention(db, settings)
    monkeypatch.setattr(settings, "retention_interval_hours", 0.0)
    runtime_privacy.schedule_retention(db, settings)
    with db.read() as session:
        assert scheduler.job_status(session, "retention.run") == "cancelled"
