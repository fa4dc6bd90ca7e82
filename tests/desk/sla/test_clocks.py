"""SLA clocks on the scheduler: due times on the Chinese calendar, at-risk and breach facts
recorded once (twice-fired jobs, several workers, a worker killed before the due time),
met, paused and resumed clocks, the policy that applies, the inbox's queries. SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from omnicx.core import scheduler
from omnicx.core.database import Database
from omnicx.core.scheduler import Runner
from omnicx.core.time import as_utc, utcnow
from omnicx.desk.sla.models import SlaClock
from omnicx.desk.sla.service import (
    PolicyDefinition,
    business_seconds,
    calendar_for,
    cancel_clocks,
    choose_policy,
    clock_states,
    create_policy,
    job_key,
    meet_clock,
    pause_clock,
    resume_clock,
    start_clock,
    targets_in_state,
    update_policy,
)
from tests.desk.sla.factories import (
    ALWAYS,
    fact_counts,
    make_calendar,
    make_policy,
    sla_facts,
    sla_registry,
)

ROOT = Path(__file__).resolve().parents[3]
SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600


def start(db: Database, target_id: int, metric: str = "first_response", **fields):
    fields.setdefault("started_at", utcnow())
    with db.write() as session:
        clock = start_clock(
            session,
            "conversation",
            target_id,
            metric,
            team_id=fields.pop("team_id", None),
            ticket_type=fields.pop("ticket_type", None),
            priority=fields.pop("priority", None),
            started_at=fields.pop("started_at"),
        )
        return None if clock is None else clock.id


def clock(db: Database, clock_id: int) -> SlaClock:
    with db.read() as session:
        found = session.get(SlaClock, clock_id)
        assert found is not None
        session.expunge(found)
        return found


def job_due(db: Database, key: str):
    with db.read() as session:
        rows = [r for r in scheduler.list_jobs(session, statuses=["pending"]) if r.key == key]
        return as_utc(rows[0].due_at) if rows else None


def test_due_times_skip_national_day_and_count_the_make_up_saturday(db):
    calendar = make_calendar(db, region="CN")
    make_policy(db, calendar, first_response_seconds=2 * HOUR, resolution_seconds=8 * HOUR)
    # 30 September 2026, 17:00 in Shanghai: one working hour left before National Day.
    started = datetime(2026, 9, 30, 17, tzinfo=SHANGHAI)
    first = start(db, 42, started_at=started)
    found = clock(db, first)
    assert as_utc(found.due_at) == datetime(2026, 10, 8, 10, tzinfo=SHANGHAI)
    assert as_utc(found.at_risk_at) == datetime(2026, 10, 8, 9, 36, tzinfo=SHANGHAI)  # 80%
    breach = job_key("sla.breach", "conversation", 42, "first_response")
    assert breach == "sla.breach:conversation:42:first_response"
    assert job_due(db, breach) == datetime(2026, 10, 8, 10, tzinfo=SHANGHAI)
    # Resolution, 8 business hours: 1h on 30 September, 7h of 8 October.
    resolution = clock(db, start(db, 42, "resolution", started_at=started))
    assert as_utc(resolution.due_at) == datetime(2026, 10, 8, 17, 30, tzinfo=SHANGHAI)
    late = clock(db, start(db, 43, "resolution", started_at=started + timedelta(days=9)))
    # 9 October 17:00 + 8h: 1h on Friday, 7h on the make-up Saturday 10 October.
    assert as_utc(late.due_at) == datetime(2026, 10, 10, 17, 30, tzinfo=SHANGHAI)


def test_the_most_specific_policy_applies(db):
    calendar = make_calendar(db)
    everyone = make_policy(db, calendar, "全部", first_response_seconds=HOUR)
    vip_team = make_policy(db, calendar, "VIP 团队", team_id=7, first_response_seconds=600)
    urgent = make_policy(db, calendar, "紧急", priority="urgent", first_response_seconds=900)
    refunds = make_policy(
        db, calendar, "VIP 退款", team_id=7, ticket_type="退款", resolution_seconds=HOUR
    )
    make_policy(db, calendar, "停用", team_id=7, priority="urgent", enabled=False)
    with db.read() as session:

        def chosen(team, ticket_type, priority):
            policy = choose_policy(session, team, ticket_type, priority)
            return policy.id if policy else None

        assert chosen(None, None, None) == everyone
        assert chosen(7, None, "urgent") == vip_team  # the team beats the priority
        assert chosen(8, None, "urgent") == urgent
        assert chosen(7, "退款", "low") == refunds
    # The refund policy does not measure first response: no clock.
    assert start(db, 1, team_id=7, ticket_type="退款") is None
    assert clock(db, start(db, 2, team_id=7)).goal_seconds == 600


def test_a_policy_changed_in_the_transaction_that_starts_clocks_is_the_one_applied(db):
    # A transaction remembers which policy applies (a batch of new conversations asks
    # again and again); changing policies in it must not leave it with the old answer.
    calendar = make_calendar(db)
    standard = make_policy(db, calendar, "标准服务", first_response_seconds=HOUR)
    with db.write() as session:

        def goal(target_id: int) -> int | None:
            opened = start_clock(
                session,
                "conversation",
                target_id,
                "first_response",
                team_id=None,
                ticket_type=None,
                priority=None,
                started_at=utcnow(),
            )
            return None if opened is None else opened.goal_seconds

        assert goal(1) == HOUR
        update_policy(session, standard, {"first_response_seconds": 600})
        assert goal(2) == 600
        create_policy(
            session,
            PolicyDefinition(name="加急", calendar_id=calendar, first_response_seconds=300),
        )
        assert goal(3) == 600  # the older of two equally specific policies
        update_policy(session, standard, {"enabled": False})
        assert goal(4) == 300


def test_a_breach_fires_from_the_scheduler_once_with_its_facts(db):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=10)
    first = start(db, 5, started_at=utcnow() - timedelta(seconds=30))
    runner = Runner(db, sla_registry())
    assert runner.run_until_idle() == 2  # at risk, then breached
    found = clock(db, first)
    assert found.state == "breached"
    assert as_utc(found.breached_at) == as_utc(found.due_at)
    facts = sla_facts(db)
    assert [name for name, _ in facts] == ["sla.at_risk", "sla.breached"]
    assert facts[1][1]["target_id"] == 5 and facts[1][1]["metric"] == "first_response"
    # The same jobs fired again (a second worker, a replayed schedule): nothing more.
    with db.write() as session:
        for job in ("sla.at_risk", "sla.breach"):
            scheduler.schedule(
                session,
                job,
                job_key(job, "conversation", 5, "first_response"),
                found.due_at,
                {"clock_id": first},
            )
    assert runner.run_until_idle() == 2
    assert fact_counts(db) == {"sla.at_risk": 1, "sla.breached": 1}
    # Met later, it stays breached and says when it was met.
    with db.write() as session:
        meet_clock(session, "conversation", 5, "first_response", utcnow())
    assert clock(db, first).state == "breached" and clock(db, first).met_at is not None
    assert fact_counts(db) == {"sla.at_risk": 1, "sla.breached": 1}


def test_a_clock_met_in_time_fires_nothing(db):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=HOUR)
    first = start(db, 6)
    with db.write() as session:
        meet_clock(session, "conversation", 6, "first_response", utcnow())
    assert clock(db, first).state == "met"
    with db.read() as session:
        key = job_key("sla.breach", "conversation", 6, "first_response")
        assert scheduler.job_status(session, key) == "cancelled"
    # Starting again opens a new clock (the next question), meeting twice is a no-op.
    second = start(db, 6)
    assert second != first
    assert start(db, 6) == second  # idempotent while open


def test_met_after_the_due_time_before_the_job_fired_is_a_breach_once(db):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=10)
    first = start(db, 7, started_at=utcnow() - timedelta(minutes=5))
    with db.write() as session:
        meet_clock(session, "conversation", 7, "first_response", utcnow())
    assert clock(db, first).state == "breached"
    assert Runner(db, sla_registry()).run_until_idle() == 0  # its jobs were cancelled
    assert fact_counts(db) == {"sla.breached": 1}


def test_pausing_keeps_the_time_spent_and_resuming_moves_the_due_time(db):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, resolution_seconds=100)
    t0 = utcnow().replace(microsecond=0) - timedelta(seconds=1000)
    resolution = start(db, 8, "resolution", started_at=t0)
    with db.write() as session:
        pause_clock(session, "conversation", 8, "resolution", t0 + timedelta(seconds=30))
    paused = clock(db, resolution)
    assert paused.spent_seconds == 30 and paused.due_at is None
    with db.read() as session:
        key = job_key("sla.breach", "conversation", 8, "resolution")
        assert scheduler.job_status(session, key) == "cancelled"
    assert Runner(db, sla_registry()).run_until_idle() == 0  # nothing fires while paused
    with db.write() as session:
        resume_clock(session, "conversation", 8, "resolution", t0 + timedelta(seconds=900))
    resumed = clock(db, resolution)
    assert as_utc(resumed.due_at) == t0 + timedelta(seconds=970)
    assert as_utc(resumed.at_risk_at) == t0 + timedelta(seconds=950)  # 80 - 30 left
    assert Runner(db, sla_registry()).run_until_idle() == 2
    assert clock(db, resolution).state == "breached"


def test_the_inbox_reads_states_per_target_and_filters_by_state(db):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=10, resolution_seconds=HOUR)
    start(db, 10, started_at=utcnow() - timedelta(minutes=1))
    start(db, 11)
    start(db, 11, "resolution")
    start(db, 12)
    with db.write() as session:
        cancel_clocks(session, "conversation", 12)
    Runner(db, sla_registry()).run_until_idle()
    with db.read() as session:
        states = clock_states(session, "conversation", [10, 11, 12, 13])
        breached = set(session.scalars(targets_in_state("conversation", ["breached"])))
        running = set(session.scalars(targets_in_state("conversation", ["running"])))
    assert states[10]["first_response"].state == "breached"
    assert {m: s.state for m, s in states[11].items()} == {
        "first_response": "running",
        "resolution": "running",
    }
    assert states[12]["first_response"].state == "cancelled"
    assert 13 not in states
    assert breached == {10} and running == {11}


def test_reporting_counts_wall_and_business_seconds(db):
    calendar = make_calendar(db, region="CN")
    with db.read() as session:
        rules = calendar_for(session, calendar)
    # From Friday 9 October 2026 17:00 to Monday 12 October 10:00: the make-up Saturday
    # counts, Sunday does not.
    elapsed = business_seconds(
        rules,
        datetime(2026, 10, 9, 17, tzinfo=SHANGHAI),
        datetime(2026, 10, 12, 10, tzinfo=SHANGHAI),
    )
    assert elapsed.wall_seconds == 65 * HOUR
    assert elapsed.business_seconds == HOUR + 7 * HOUR + 30 * 60 + HOUR


def test_two_workers_on_postgres_record_a_breach_once(db, backend):
    if backend != "postgres":
        pytest.skip("SQLite has a single writer; competing workers are a PostgreSQL matter")
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=5)
    for target in range(100):
        start(db, target, started_at=utcnow() - timedelta(minutes=1))
    second = Database(db.url)
    runners = [Runner(db, sla_registry(), batch=10), Runner(second, sla_registry(), batch=10)]
    threads = [threading.Thread(target=r.run_until_idle) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    second.dispose()
    assert fact_counts(db) == {"sla.at_risk": 100, "sla.breached": 100}


@pytest.mark.slow
def test_a_breach_survives_a_worker_restart_and_fires_once_with_two_workers(db, settings):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=4)
    first = start(db, 99)
    due = as_utc(clock(db, first).due_at)

    def worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.desk.sla.sla_worker"], cwd=ROOT, env=dict(os.environ)
        )

    doomed = worker()
    time.sleep(1.0)
    doomed.send_signal(signal.SIGKILL)  # killed after scheduling, before the due time
    doomed.wait(10)
    assert utcnow() < due and fact_counts(db) == {}
    workers = [worker(), worker()]
    try:
        deadline = time.monotonic() + 30
        while clock(db, first).state != "breached":
            assert time.monotonic() < deadline, "the breach did not fire"
            time.sleep(0.1)
        time.sleep(1.0)  # room for a double firing to show
    finally:
        for each in workers:
            each.send_signal(signal.SIGKILL)
            each.wait(10)
    fired_late = as_utc(clock(db, first).updated_at) - due
    assert fired_late < timedelta(seconds=5), "fired on time (within a runner's poll)"
    assert fact_counts(db) == {"sla.at_risk": 1, "sla.breached": 1}
    with db.read() as session:
        assert (
            scheduler.job_status(
                session, job_key("sla.breach", "conversation", 99, "first_response")
            )
            == "done"
        )
    with db.read() as session:
        assert session.scalar(select(SlaClock.state).where(SlaClock.id == first)) == "breached"


def test_two_transactions_starting_the_same_clock_get_one(db, backend):
    if backend != "postgres":
        pytest.skip("SQLite has a single writer: the second start waits and finds the first")
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=HOUR)
    first_inserted, ids = threading.Event(), []

    def first() -> None:
        with db.write() as session:
            ids.append(
                start_clock(
                    session,
                    "ticket",
                    77,
                    "first_response",
                    team_id=None,
                    ticket_type=None,
                    priority=None,
                    started_at=utcnow(),
                ).id
            )
            first_inserted.set()
            time.sleep(0.5)  # the second transaction inserts meanwhile and waits on us

    thread = threading.Thread(target=first)
    thread.start()
    first_inserted.wait(10)
    with db.write() as session:
        second = start_clock(
            session,
            "ticket",
            77,
            "first_response",
            team_id=None,
            ticket_type=None,
            priority=None,
            started_at=utcnow(),
        )
        second_id = second.id if second else None
    thread.join(10)
    assert second_id == ids[0]
    with db.read() as session:
        assert len(session.scalars(select(SlaClock).where(SlaClock.target_id == 77)).all()) == 1
