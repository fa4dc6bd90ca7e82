"""A processor group over the events table: offsets move with effects, failures are isolated
and replayable, a crash replays instead of losing or doubling, and state can be rebuilt from
the log. (JetStream's road into the table: ``test_transport.py``; several groups:
``test_groups.py``.)"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from typing import Any

import psycopg.errors
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.core.database import Database
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.models import DeadLetter, EventRow, ProcessorOffset
from omnicx.core.outbox import OutboxMessage, enqueue
from omnicx.core.processing import GroupRunner, Processor, ProcessorGroup, replay_dead_letter
from omnicx.core.processing.replay import rewind
from omnicx.core.serialization import loads
from omnicx.customers import profiles
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.customers.projection import CustomerProcessor
from omnicx.identity.models import Customer, DormantCustomer, Identifier
from omnicx.identity.service import find_customer_by_identifier
from tests.factories import append_calls, call, make_source

# -- data and observations -------------------------------------------------------------------


def group_runner(db: Database, *processors: Processor, batch_size: int = 1000) -> GroupRunner:
    """One group of these processors, as a worker runs it."""
    return GroupRunner(db, ProcessorGroup("test", processors), batch_size=batch_size)


def three_people() -> list[dict[str, Any]]:
    """12 calls from three people; two of them are stitched across devices by later calls."""
    return [
        call("page", 0, anonymousId="p1-web", name="Home", context={"page": {"path": "/"}}),
        call(
            "track",
            1,
            anonymousId="p2-app",
            event="Opened App",
            context={"app": {"name": "shop"}, "device": {"id": "p2-phone"}},
        ),
        call(
            "identify",
            2,
            anonymousId="p1-web",
            userId="crm-1",
            traits={"email": "li.na@example.cn", "plan": "basic"},
        ),
        call("track", 3, userId="crm-1", event="Order Completed"),
        call("page", 4, anonymousId="p3-web", name="Pricing"),
        call("identify", 5, userId="crm-2", traits={"phone": "+86 139 0000 1111", "vip": True}),
        call("alias", 6, userId="crm-2", previousId="p2-app"),
        call(
            "track",
            7,
            anonymousId="p3-web",
            event="Signed Up",
            context={"traits": {"email": "sam@example.com"}},
        ),
        call("identify", 8, userId="crm-1", traits={"plan": "pro"}),
        call("track", 9, anonymousId="p2-app", event="Cart Viewed"),
        call("page", 10, anonymousId="p1-web", name="Checkout"),
        call("track", 11, userId="crm-2", event="Ticket Opened"),
    ]


EXPECTED_PEOPLE = {
    frozenset({("anonymous_id", "p1-web"), ("user_id", "crm-1"), ("email", "li.na@example.cn")}): 5,
    frozenset(
        {
            ("anonymous_id", "p2-app"),
            ("device_id", "p2-phone"),
            ("user_id", "crm-2"),
            ("phone", "+8613900001111"),
        }
    ): 5,
    frozenset({("anonymous_id", "p3-web"), ("email", "sam@example.com")}): 2,
}


def seqs_of(db: Database, events: Sequence[LogEvent]) -> list[int]:
    ids = [e.message_id for e in events]
    with db.read() as session:
        rows = session.execute(
            select(EventRow.message_id, EventRow.seq).where(EventRow.message_id.in_(ids))
        )
        found = {message_id: seq for message_id, seq in rows}
    return [found[i] for i in ids]


def people(db: Database) -> dict[frozenset[tuple[str, str]], tuple[int, dict[str, Any]]]:
    """Each live customer as its identifiers, with its profile's event count and traits."""
    with db.read() as session:
        members: dict[int, set[tuple[str, str]]] = {}
        for row in session.execute(
            select(Identifier.customer_id, Identifier.type, Identifier.value)
        ):
            members.setdefault(row.customer_id, set()).add((row.type, row.value))
        live = set(session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))
        profiles_by_id = {
            row.customer_id: (row.event_count, loads(row.traits))
            for row in session.execute(
                select(
                    CustomerProfile.customer_id, CustomerProfile.event_count, CustomerProfile.traits
                )
            )
        }
    assert set(members) <= live, "an identifier points at a merged-away customer"
    return {frozenset(idents): profiles_by_id[c] for c, idents in members.items()}


def ids_by_identifiers(db: Database) -> dict[frozenset[tuple[str, str]], int]:
    with db.read() as session:
        members: dict[int, set[tuple[str, str]]] = {}
        for customer_id, kind, value in session.execute(
            select(Identifier.customer_id, Identifier.type, Identifier.value)
        ):
            members.setdefault(customer_id, set()).add((kind, value))
    return {frozenset(m): c for c, m in members.items()}


def event_counts(db: Database) -> dict[frozenset[tuple[str, str]], int]:
    return {k: count for k, (count, _) in people(db).items()}


def replayed_through(db: Database) -> dict[str, int]:
    with db.read() as session:
        rows = session.execute(select(ProcessorOffset.processor, ProcessorOffset.replayed_through))
        return dict(rows.all())


def events_seq_max(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.max(EventRow.seq))) or 0


def timeline_seqs(db: Database) -> Counter[int]:
    with db.read() as session:
        return Counter(session.scalars(select(TimelineEntry.event_seq)))


def offsets(db: Database) -> dict[str, int]:
    with db.read() as session:
        rows = session.execute(select(ProcessorOffset.processor, ProcessorOffset.position))
        return {name: position for name, position in rows}


def effects_of(db: Database, kind: str) -> Counter[str]:
    """Message ids a test processor recorded (as outbox rows, so they share the transaction)."""
    with db.read() as session:
        payloads = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.kind == kind))
        return Counter(loads(p)["message_id"] for p in payloads)


def letters(db: Database) -> list[tuple[str, int, str, int, str, bool]]:
    """(processor, event seq, status, attempts, reason, resolved) of every dead letter."""
    with db.read() as session:
        rows = session.execute(select(DeadLetter).order_by(DeadLetter.event_seq)).scalars()
        return [
            (d.processor, d.event_seq, d.status, d.attempts, d.reason, d.resolved_at is not None)
            for d in rows
        ]


def count(db: Database, model: type) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- test processors ---------------------------------------------------------------------------


class RecordingProcessor:
    """Writes one outbox row per event: an effect that lives in the pipeline's transaction."""

    name = "recording"

    def record(self, session: Session, events: Sequence[LogEvent]) -> None:
        for event in events:
            enqueue(session, f"test.{self.name}", {"message_id": event.message_id})

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        self.record(session, events)

    def reset(self, session: Session) -> None:
        session.execute(delete(OutboxMessage).where(OutboxMessage.kind == f"test.{self.name}"))


class Flaky(RecordingProcessor):
    """Fails on chosen events until it is fixed."""

    name = "flaky"

    def __init__(self, fail_on: set[str]):
        self.fail_on = fail_on
        self.broken = True

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        for event in events:
            # Record first, then fail: the savepoint must take the partial effects back.
            self.record(session, [event])
            if self.broken and event.message_id in self.fail_on:
                raise ValueError(f"flaky cannot handle {event.message_id}")


class Crasher(RecordingProcessor):
    """Dies (not an ordinary exception) after the earlier processors did their work."""

    name = "crasher"

    def __init__(self) -> None:
        self.crash: type[BaseException] | None = None
        self.effects_seen_before_crash = 0

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        self.record(session, events)
        if self.crash is not None:
            self.effects_seen_before_crash = (
                session.scalar(select(func.count()).select_from(TimelineEntry)) or 0
            )
            raise self.crash("simulated crash before commit")


def deadlock(db: Database) -> OperationalError:
    """The error the driver raises when the database picks this transaction as a victim."""
    if db.sqlite:
        orig: Exception = sqlite3.OperationalError("database is locked")
    else:
        orig = psycopg.errors.DeadlockDetected("deadlock detected")
    return OperationalError("UPDATE customers ...", {}, orig)


class Colliding(RecordingProcessor):
    """Loses a lock race the first ``times`` times it runs."""

    name = "colliding"

    def __init__(self, db: Database, times: int):
        self.db = db
        self.times = times
        self.calls = 0

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        self.calls += 1
        self.record(session, events)
        if self.calls <= self.times:
            raise deadlock(self.db)


# -- offsets -----------------------------------------------------------------------------------


def test_offsets_advance_with_the_effects_batch_by_batch(db):
    source_id, _ = make_source(db)
    events = append_calls(db, source_id, three_people())
    seqs = seqs_of(db, events)
    pipeline = group_runner(db, CustomerProcessor(), batch_size=5)

    assert pipeline.run_once() == 5
    assert offsets(db) == {"customers": seqs[4]}
    assert timeline_seqs(db) == Counter(seqs[:5])

    assert pipeline.run_once() == 5
    assert offsets(db) == {"customers": seqs[9]}
    assert timeline_seqs(db) == Counter(seqs[:10])

    assert pipeline.run_until_idle() == 2
    assert offsets(db) == {"customers": seqs[-1]}
    assert timeline_seqs(db) == Counter(seqs)
    assert event_counts(db) == EXPECTED_PEOPLE


def test_running_again_processes_nothing_new(db):
    source_id, _ = make_source(db)
    append_calls(db, source_id, three_people())
    pipeline = group_runner(db, CustomerProcessor())
    assert pipeline.run_until_idle() == 12
    before = (people(db), timeline_seqs(db), offsets(db), count(db, Customer))

    assert pipeline.run_until_idle() == 0
    assert group_runner(db, CustomerProcessor()).run_until_idle() == 0  # a restarted process
    assert (people(db), timeline_seqs(db), offsets(db), count(db, Customer)) == before

    # New events continue from the offset: only they are processed.
    more = append_calls(db, source_id, [call("track", 20, userId="crm-1", event="Reorder")])
    assert pipeline.run_until_idle() == 1
    assert timeline_seqs(db)[seqs_of(db, more)[0]] == 1
    crm_1 = next(k for k in people(db) if ("user_id", "crm-1") in k)
    assert people(db)[crm_1][0] == 6


# -- dead letters ------------------------------------------------------------------------------


def test_failing_events_are_dead_lettered_and_the_rest_of_the_batch_goes_on(db):
    source_id, _ = make_source(db)
    calls = three_people()
    bad = {calls[3]["messageId"], calls[8]["messageId"]}
    events = append_calls(db, source_id, calls)
    seqs = seqs_of(db, events)
    bad_seqs = {s for e, s in zip(events, seqs, strict=True) if e.message_id in bad}
    flaky = Flaky(fail_on=bad)
    pipeline = group_runner(db, CustomerProcessor(), flaky)

    assert pipeline.run_until_idle() == 12

    found = letters(db)
    assert [row[:4] for row in found] == [("flaky", s, "open", 1) for s in sorted(bad_seqs)]
    assert all("ValueError: flaky cannot handle" in row[4] for row in found)
    # The flaky processor handled every other event exactly once (partial effects of the
    # failed batch attempt were rolled back with its savepoint).
    assert effects_of(db, "test.flaky") == Counter(
        e.message_id for e in events if e.message_id not in bad
    )
    # The customers processor is unaffected: every event, once, and the right people.
    assert timeline_seqs(db) == Counter(seqs)
    assert event_counts(db) == EXPECTED_PEOPLE
    assert offsets(db) == {"customers": seqs[-1], "flaky": seqs[-1]}

    # Replaying before the fix keeps the letters open and counts the attempt.
    with db.write() as session:
        for letter in session.scalars(select(DeadLetter)):
            assert replay_dead_letter(session, letter, flaky) is False
    still = letters(db)
    assert {(row[2], row[3]) for row in still} == {("open", 2)}
    assert all(row[4].startswith("ValueError: flaky cannot handle") for row in still)
    assert effects_of(db, "test.flaky")[calls[3]["messageId"]] == 0

    # Fixed: the replay resolves them, each effect once, and nothing else is re-run.
    flaky.broken = False
    with db.write() as session:
        for letter in session.scalars(select(DeadLetter).where(DeadLetter.status == "open")):
            assert replay_dead_letter(session, letter, flaky) is True
    assert {(row[2], row[5]) for row in letters(db)} == {("resolved", True)}
    assert effects_of(db, "test.flaky") == Counter(e.message_id for e in events)
    assert pipeline.run_until_idle() == 0
    assert timeline_seqs(db) == Counter(seqs)


def test_cli_lists_and_replays_a_dead_lettered_customer_event(db, monkeypatch):
    source_id, _ = make_source(db)
    calls = [
        call("page", 0, anonymousId="zhao-web", name="Home"),
        call("track", 1, userId="crm-zhao", event="Order Completed"),
        # The identify that stitches the two is the one that fails.
        call(
            "identify",
            2,
            anonymousId="zhao-web",
            userId="crm-zhao",
            traits={"email": "zhao@example.cn", "tier": "gold"},
        ),
        call("track", 3, anonymousId="other-web", event="Browsed"),
    ]
    bad = calls[2]["messageId"]
    events = append_calls(db, source_id, calls)
    seqs = seqs_of(db, events)
    bad_seq = seqs[2]

    real_traits_of = profiles.traits_of

    def traits_store_down(event: LogEvent) -> dict[str, Any]:
        if event.message_id == bad:
            raise RuntimeError("trait store unavailable")
        return real_traits_of(event)

    monkeypatch.setattr(profiles, "traits_of", traits_store_down)
    pipeline = group_runner(db, CustomerProcessor())
    assert pipeline.run_until_idle() == 4

    assert timeline_seqs(db) == Counter(s for s in seqs if s != bad_seq)
    with db.read() as session:
        zhao_web = find_customer_by_identifier(session, "anonymous_id", "zhao-web")
        crm_zhao = find_customer_by_identifier(session, "user_id", "crm-zhao")
    assert zhao_web != crm_zhao  # not stitched: the event that says so failed

    runner = CliRunner()
    listed = runner.invoke(app, ["deadletter", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if f" {bad_seq} " in line)
    assert "customers" in row
    assert "open" in row
    assert "trait store unavailable" in row

    monkeypatch.setattr(profiles, "traits_of", real_traits_of)
    replayed = runner.invoke(app, ["deadletter", "replay"])
    assert replayed.exit_code == 0, replayed.output
    assert "1 fixed, 0 still failing" in replayed.output

    # The event is on the stitched customer's timeline exactly once.
    assert timeline_seqs(db) == Counter(seqs)
    with db.read() as session:
        customer = find_customer_by_identifier(session, "email", "zhao@example.cn")
        assert find_customer_by_identifier(session, "user_id", "crm-zhao") == customer
        assert find_customer_by_identifier(session, "anonymous_id", "zhao-web") == customer
        owner = session.scalar(
            select(TimelineEntry.customer_id).where(TimelineEntry.event_seq == bad_seq)
        )
    assert owner == customer
    stitched = next(v for k, v in people(db).items() if ("user_id", "crm-zhao") in k)
    assert stitched[0] == 3
    assert stitched[1]["tier"] == "gold"

    after = runner.invoke(app, ["deadletter", "list"], env={"COLUMNS": "200"})
    assert f" {bad_seq} " not in after.output
    everything = runner.invoke(app, ["deadletter", "list", "--all"], env={"COLUMNS": "200"})
    assert "resolved" in everything.output
    # A second replay finds nothing left to do; nothing is doubled.
    again = runner.invoke(app, ["deadletter", "replay"])
    assert "0 fixed, 0 still failing" in again.output
    assert timeline_seqs(db) == Counter(seqs)
    assert pipeline.run_until_idle() == 0


# -- crashes and transient errors --------------------------------------------------------------


@pytest.mark.parametrize("crash", [KeyboardInterrupt, SystemExit])
def test_a_crash_mid_batch_rolls_back_and_the_next_run_neither_loses_nor_doubles(db, crash):
    source_id, _ = make_source(db)
    events = append_calls(db, source_id, three_people())
    seqs = seqs_of(db, events)
    crasher = Crasher()
    pipeline = group_runner(db, CustomerProcessor(), crasher, batch_size=5)

    # The very first batch dies: not even the offset rows exist afterwards.
    crasher.crash = crash
    with pytest.raises(crash):
        pipeline.run_once()
    assert crasher.effects_seen_before_crash == 5  # the effects existed in the transaction
    assert offsets(db) == {}
    assert timeline_seqs(db) == Counter()
    assert count(db, Customer) == count(db, Identifier) == count(db, CustomerProfile) == 0
    assert effects_of(db, "test.crasher") == Counter()
    assert count(db, DeadLetter) == 0  # a crash is not the event's fault

    crasher.crash = None
    assert pipeline.run_once() == 5
    committed = (people(db), timeline_seqs(db), offsets(db))
    assert committed[2] == {"customers": seqs[4], "crasher": seqs[4]}

    # A later batch dies: the committed state is exactly what it was.
    crasher.crash = crash
    with pytest.raises(crash):
        pipeline.run_once()
    assert crasher.effects_seen_before_crash == 10
    assert (people(db), timeline_seqs(db), offsets(db)) == committed

    crasher.crash = None
    assert pipeline.run_until_idle() == 7
    assert timeline_seqs(db) == Counter(seqs)
    assert effects_of(db, "test.crasher") == Counter(e.message_id for e in events)
    assert event_counts(db) == EXPECTED_PEOPLE
    assert offsets(db) == {"customers": seqs[-1], "crasher": seqs[-1]}


def test_a_lost_lock_race_is_retried_not_dead_lettered(db):
    source_id, _ = make_source(db)
    events = append_calls(db, source_id, three_people()[:4])
    colliding = Colliding(db, times=1)
    pipeline = group_runner(db, CustomerProcessor(), colliding)

    with pytest.raises(OperationalError):
        pipeline.run_once()
    assert count(db, DeadLetter) == 0
    assert offsets(db) == {}
    assert timeline_seqs(db) == Counter()

    assert pipeline.run_until_idle() == 4
    assert count(db, DeadLetter) == 0
    assert effects_of(db, "test.colliding") == Counter(e.message_id for e in events)


# -- rebuilding ---------------------------------------------------------------------------------


def test_reset_state_and_rerun_rebuild_the_same_profiles(db):
    source_id, _ = make_source(db)
    events = append_calls(db, source_id, three_people())
    flaky = Flaky(fail_on={events[0].message_id})
    pipeline = group_runner(db, CustomerProcessor(), flaky, batch_size=4)
    pipeline.run_until_idle()
    before = people(db)
    assert {k: c for k, (c, _) in before.items()} == EXPECTED_PEOPLE
    assert count(db, DeadLetter) == 1

    ids_before = ids_by_identifiers(db)
    with db.write() as session:
        rewind(session, [pipeline.group])
    assert count(db, Identifier) == 0
    # Customer ids are kept, each waiting for the identifier that founded it.
    assert count(db, Customer) == count(db, DormantCustomer) > len(ids_before)  # one merged
    assert count(db, CustomerProfile) == count(db, TimelineEntry) == 0
    assert effects_of(db, "test.flaky") == Counter()
    assert set(offsets(db).values()) == {0}
    assert replayed_through(db) == {"customers": events_seq_max(db), "flaky": events_seq_max(db)}
    assert count(db, DeadLetter) == 0  # open letters go; the rerun decides afresh

    flaky.broken = False
    assert pipeline.run_until_idle() == 12
    assert people(db) == before  # same people, same counts, same traits
    assert ids_by_identifiers(db) == ids_before  # ... under the same customer ids
    assert count(db, DormantCustomer) == 0
    assert timeline_seqs(db) == Counter(seqs_of(db, events))
    assert effects_of(db, "test.flaky") == Counter(e.message_id for e in events)
    assert count(db, DeadLetter) == 0
