"""Processor groups over the one events table: a group after identity never reads past it
and gets each event's customer; an event identity failed on is parked, not processed
customer-less; a group added later backfills, then follows; several PostgreSQL writers never
make a follower skip a row; one worker leads a group; replay refuses while workers run and
works the same with the JetStream log."""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.core.database import Database
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.facts import is_fact
from omnicx.core.eventlog.models import DeadLetter, EventRow
from omnicx.core.eventlog.table import append_rows, read_events_after, stored_rows
from omnicx.core.processing import GroupRunner, ProcessorGroup, replay_dead_letter
from omnicx.core.processing.leases import GroupLease, Presence
from omnicx.core.time import utcnow
from omnicx.customers import profiles
from omnicx.customers.projection import CustomerProcessor, attribute_events
from omnicx.identity.service import find_customer_by_identifier
from omnicx.ingest.tracking import to_log_event
from omnicx.runtime.processors import processor_named
from tests.factories import append_calls, call, make_source


class Seen:
    """A downstream processor that remembers what it got (in memory: a test double for a
    desk or automation group, whose state is not the point here)."""

    name = "seen"

    def __init__(self) -> None:
        self.events: list[tuple[int, int | None]] = []
        self.facts: list[tuple[str, int]] = []

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        self.events.extend((e.seq or 0, e.customer_id) for e in events if not is_fact(e))
        self.facts.extend((e.name or "", e.payload["customer_id"]) for e in events if is_fact(e))

    def reset(self, session: Session) -> None:
        self.events.clear()
        self.facts.clear()


def groups(seen: Seen) -> tuple[ProcessorGroup, ProcessorGroup]:
    identity = ProcessorGroup("identity", (CustomerProcessor(),))
    return identity, ProcessorGroup("seen", (seen,), after=identity, enrich=attribute_events)


def zhou_calls() -> list[dict[str, Any]]:
    return [
        call("page", 0, anonymousId="zhou-web", name="首页"),
        call("identify", 1, anonymousId="zhou-web", userId="crm-zhou", traits={"name": "周杰"}),
        call("track", 2, userId="crm-zhou", event="Order Completed"),
        call("track", 3, anonymousId="wu-web", event="浏览商品"),
    ]


def seqs(db: Database) -> list[int]:
    with db.read() as session:
        return list(session.scalars(select(EventRow.seq).order_by(EventRow.seq)))


def test_a_group_after_identity_never_reads_past_it_and_gets_each_customer(db):
    source_id, _ = make_source(db)
    append_calls(db, source_id, zhou_calls())
    seen = Seen()
    identity, downstream = groups(seen)
    follower = GroupRunner(db, downstream)

    assert follower.run_until_idle() == 0  # identity has not run: nothing to read
    GroupRunner(db, identity, batch_size=2).run_once()
    follower.run_until_idle()
    assert len(seen.events) == 2
    GroupRunner(db, identity).run_until_idle()
    follower.run_until_idle()

    with db.read() as session:
        zhou = find_customer_by_identifier(session, "user_id", "crm-zhou")
        wu = find_customer_by_identifier(session, "anonymous_id", "wu-web")
    all_seqs = seqs(db)
    assert seen.events == [(s, c) for s, c in zip(all_seqs, [zhou, zhou, zhou, wu], strict=True)]
    # ... and, after the events that caused them, identity's facts.
    assert ("customer.created", zhou) in seen.facts and ("customer.created", wu) in seen.facts
    assert ("customer.traits_changed", zhou) in seen.facts


def test_a_group_that_reads_some_events_passes_over_the_rest_window_by_window(db):
    source_id, _ = make_source(db)
    append_calls(db, source_id, zhou_calls())
    seen = Seen()
    identity = ProcessorGroup("identity", (CustomerProcessor(),))
    orders = ProcessorGroup(
        "seen",
        (seen,),
        after=identity,
        enrich=attribute_events,
        event_names=frozenset({"Order Completed"}),
    )
    GroupRunner(db, identity).run_until_idle()
    # Windows of two positions: the first holds no order; the offset still moves past it.
    follower = GroupRunner(db, orders, batch_size=2)
    assert follower.run_until_idle() > 0
    first = seqs(db)
    with db.read() as session:
        zhou = find_customer_by_identifier(session, "user_id", "crm-zhou")
    assert seen.events == [(first[2], zhou)] and follower.position == first[-1]
    assert ("customer.created", zhou) in seen.facts  # facts come all the same
    # A later order is read once identity has passed it; the page view beside it is not.
    append_calls(
        db,
        source_id,
        [
            call("page", 5, userId="crm-zhou", name="订单页"),
            call("track", 6, userId="crm-zhou", event="Order Completed"),
        ],
    )
    GroupRunner(db, identity).run_until_idle()
    follower.run_until_idle()
    assert seen.events == [(first[2], zhou), (seqs(db)[-1], zhou)]
    with pytest.raises(ValueError, match="after another"):
        ProcessorGroup("alone", (Seen(),), event_names=frozenset({"Order Completed"}))


def test_an_event_identity_failed_on_is_parked_downstream_then_replayed_after_it(db, monkeypatch):
    source_id, _ = make_source(db)
    calls = zhou_calls()
    append_calls(db, source_id, calls)
    bad_seq = seqs(db)[1]
    real_traits_of = profiles.traits_of

    def broken(event: LogEvent) -> dict[str, Any]:
        if event.message_id == calls[1]["messageId"]:
            raise RuntimeError("trait store unavailable")
        return real_traits_of(event)

    monkeypatch.setattr(profiles, "traits_of", broken)
    seen = Seen()
    identity, downstream = groups(seen)
    GroupRunner(db, identity).run_until_idle()
    GroupRunner(db, downstream).run_until_idle()
    assert bad_seq not in [s for s, _ in seen.events]
    with db.read() as session:
        letters = session.execute(
            select(DeadLetter.processor, DeadLetter.event_seq, DeadLetter.reason).order_by(
                DeadLetter.id
            )
        ).all()
    assert [(p, s) for p, s, _ in letters] == [("customers", bad_seq), ("seen", bad_seq)]
    assert "group 'identity' failed on this event" in letters[1][2]

    # Fixed: replayed in id order, the downstream letter sees the event with its customer.
    monkeypatch.setattr(profiles, "traits_of", real_traits_of)
    with db.write() as session:
        for letter in session.scalars(select(DeadLetter).order_by(DeadLetter.id)).all():
            processor = CustomerProcessor() if letter.processor == "customers" else seen
            group = identity if letter.processor == "customers" else downstream
            assert replay_dead_letter(session, letter, processor, group.enrich)
    with db.read() as session:
        zhou = find_customer_by_identifier(session, "user_id", "crm-zhou")
    assert (bad_seq, zhou) in seen.events


def test_a_group_added_after_10000_events_backfills_then_follows(db):
    source_id, _ = make_source(db)
    calls = [call("track", i % 600, anonymousId=f"visitor-{i % 800}") for i in range(10_000)]
    append_calls(db, source_id, calls)
    identity = ProcessorGroup("identity", (CustomerProcessor(),))
    assert GroupRunner(db, identity).run_until_idle() == 10_000

    seen = Seen()
    late = ProcessorGroup("late", (seen,), after=identity, enrich=attribute_events)
    GroupRunner(db, late).run_until_idle()
    assert [s for s, _ in seen.events] == seqs(db)
    assert len({c for name, c in seen.facts if name == "customer.created"}) == 800
    assert all(customer is not None for _, customer in seen.events)

    append_calls(db, source_id, [call("track", 700, anonymousId="visitor-new")])
    assert GroupRunner(db, late).run_until_idle() == 0  # follows identity, not the log's end
    GroupRunner(db, identity).run_until_idle()
    GroupRunner(db, late).run_until_idle()
    assert [s for s, _ in seen.events] == seqs(db)
    assert seen.facts[-1][0] == "customer.created"  # visitor-new


@pytest.mark.parametrize("backend", ["postgres"])
def test_several_postgres_writers_never_make_a_follower_skip_a_row(db, backend):
    """Writers hold their transaction open for a while after appending, so that, were
    sequence values not handed out in commit order, a follower would read a higher seq
    before a lower one commits and pass it by for good."""
    source_id, _ = make_source(db)
    writers, batches, per_batch = 4, 15, 5
    stop = threading.Event()
    seen: list[int] = []

    def write(worker: int) -> None:
        rng = random.Random(worker)
        for b in range(batches):
            events = [
                to_log_event(
                    source_id,
                    call("track", 0, anonymousId=f"w{worker}-b{b}-{i}"),
                    event_type=None,
                    prefix="",
                    received_at=utcnow(),
                    sent_at=None,
                )
                for i in range(per_batch)
            ]
            with db.write() as session:
                append_rows(session, stored_rows(events))
                time.sleep(rng.uniform(0, 0.02))  # committed later than it was numbered

    def follow() -> None:
        position = 0
        while True:
            done = stop.is_set()
            with db.read() as session:
                events = read_events_after(session, position, 1000)
            for event in events:
                seen.append(event.seq or 0)
                position = event.seq or 0
            if done and not events:
                return
            time.sleep(0.001)

    follower = threading.Thread(target=follow)
    follower.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    follower.join(30)
    assert len(seen) == writers * batches * per_batch
    assert seen == seqs(db), "the follower skipped a row that committed late"


@pytest.mark.parametrize("backend", ["postgres"])
def test_one_worker_leads_a_group_and_a_standby_takes_over(db, backend):
    leader, standby = GroupLease(db, "identity"), GroupLease(db, "identity")
    other_group = GroupLease(db, "consent")
    try:
        assert leader.hold() is True
        assert standby.hold() is False
        assert other_group.hold() is True  # each group has its own lease
        leader.release()
        assert standby.hold() is True
    finally:
        for lease in (leader, standby, other_group):
            lease.release()


def test_replay_refuses_while_a_worker_runs(db):
    source_id, _ = make_source(db)
    append_calls(db, source_id, zhou_calls())
    presence = Presence(db, ["identity", "consent"])
    presence.beat()
    runner = CliRunner()
    refused = runner.invoke(app, ["replay", "--yes"])
    assert refused.exit_code == 1, refused.output
    assert "replay refused" in refused.output and "stop them" in refused.output
    assert seqs(db)  # nothing happened
    presence.leave()
    done = runner.invoke(app, ["replay", "--yes"])
    assert done.exit_code == 0, done.output
    assert "replayed 4 events (identity, consent, desk, review)" in done.output


def test_replay_names_unknown_groups(db):
    result = CliRunner().invoke(app, ["replay", "--group", "automation", "--yes"])
    assert result.exit_code == 2
    assert "unknown group automation" in result.output
    assert "identity, consent, desk, review" in result.output


def test_processor_named_gives_its_group():
    group, processor = processor_named("consent")
    assert group.name == "consent" and group.after is not None
    assert processor.name == "consent"


def table_rows(output: str) -> dict[str, str]:
    """The rows of a Rich table, by their first cell."""
    return {line.split("│")[1].strip(): line for line in output.splitlines() if "│" in line}


def test_status_shows_each_groups_position_lag_dead_letters_and_workers(db):
    source_id, _ = make_source(db)
    append_calls(db, source_id, zhou_calls())
    runner = CliRunner()
    behind = runner.invoke(app, ["status"], env={"COLUMNS": "160"})
    assert behind.exit_code == 0, behind.output
    assert "event log: 4 events" in behind.output
    rows = table_rows(behind.output)
    assert " 4 " in rows["identity"] and " 4 " in rows["consent"]  # lag of 4 events
    assert "workers: none running" in behind.output
    assert "scheduler: 0 jobs due, 0 failed" in behind.output

    presence = Presence(db, ["identity", "consent"])
    presence.beat()
    CliRunner().invoke(app, ["replay", "--yes"])  # refused: a worker runs
    presence.leave()
    GroupRunner(db, ProcessorGroup("identity", (CustomerProcessor(),))).run_until_idle()
    presence.beat()
    caught_up = runner.invoke(app, ["status"], env={"COLUMNS": "160"})
    rows = {
        line.split("│")[1].strip(): line for line in caught_up.output.splitlines() if "│" in line
    }
    identity_cells = [c.strip() for c in rows["identity"].split("│")[1:-1]]
    assert identity_cells[2:5] == ["0", "0.0", "0"], identity_cells  # no lag, no dead letters
    consent_cells = [c.strip() for c in rows["consent"].split("│")[1:-1]]
    assert consent_cells[2] == "4" and consent_cells[5] == "identity"
    assert f"worker {socket.gethostname()}:{os.getpid()} (groups identity,consent)" in (
        caught_up.output
    )
    presence.leave()
