"""The JetStream log against a real NATS server: events published with their ids, moved by
workers into the events table once (then dropped from the stream), redelivered after a crash
without doubling, and followed by the processor groups; and the tracking API answering only
once JetStream has stored the events.

Each test uses its own stream (subjects are per stream) and deletes it afterwards."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import pytest
from fastapi.testclient import TestClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy import func, select

from omnicx.core.database import Database
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.jetstream import (
    WORKER_DURABLE,
    JetStreamEventLog,
    encode_event,
    event_subject,
    stream_filter,
)
from omnicx.core.eventlog.models import DeadLetter, EventRow, ProcessorOffset
from omnicx.core.eventlog.table import StoredRow
from omnicx.core.processing import GroupRunner, ProcessorGroup
from omnicx.core.processing.transport import JetStreamTransport
from omnicx.core.serialization import loads
from omnicx.core.settings import get_settings, reset_settings
from omnicx.core.time import utcnow
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.customers.projection import CustomerProcessor
from omnicx.identity.models import Customer, Identifier
from omnicx.ingest.tracking import to_log_event
from omnicx.web.app import create_app
from tests.factories import call, make_source

pytestmark = pytest.mark.nats


class Crash(BaseException):
    """The worker process dies (not an error the loop could handle)."""


# -- helpers ------------------------------------------------------------------------------------


async def connect(nats_url: str) -> tuple[Any, JetStreamContext]:
    nc = await nats.connect(nats_url)
    return nc, nc.jetstream()


def events_for(source_id: int, calls: list[dict[str, Any]]) -> list[LogEvent]:
    """Events as the API would publish them."""
    received = utcnow()
    return [
        to_log_event(source_id, c, event_type=None, prefix="", received_at=received, sent_at=None)
        for c in calls
    ]


def shop_calls() -> list[dict[str, Any]]:
    """Two people; each is first seen on a device, then identified."""
    return [
        call("page", 0, anonymousId="wang-web", name="Home"),
        call("track", 1, anonymousId="wang-app", event="Opened App"),
        call("identify", 2, anonymousId="wang-web", userId="crm-wang", traits={"tier": "silver"}),
        call("alias", 3, userId="crm-wang", previousId="wang-app"),
        call("page", 4, anonymousId="chen-web", name="Pricing"),
        call(
            "identify",
            5,
            anonymousId="chen-web",
            userId="crm-chen",
            traits={"email": "chen@example.cn"},
        ),
        call("track", 6, userId="crm-chen", event="Order Completed"),
        call("track", 7, userId="crm-wang", event="Ticket Opened"),
    ]


def count(db: Database, model: type) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def timeline_seqs(db: Database) -> Counter[int]:
    with db.read() as session:
        return Counter(session.scalars(select(TimelineEntry.event_seq)))


def seqs(db: Database) -> list[int]:
    with db.read() as session:
        return list(session.scalars(select(EventRow.seq)))


def recorded_ids(db: Database) -> Counter[str]:
    with db.read() as session:
        return Counter(session.scalars(select(EventRow.message_id)))


def people(db: Database) -> dict[frozenset[tuple[str, str]], tuple[int, dict[str, Any]]]:
    """Each live customer as its identifiers → (event count, traits)."""
    with db.read() as session:
        members: dict[int, set[tuple[str, str]]] = {}
        rows = session.execute(select(Identifier.customer_id, Identifier.type, Identifier.value))
        for customer_id, kind, value in rows:
            members.setdefault(customer_id, set()).add((kind, value))
        profile_rows = session.execute(
            select(CustomerProfile.customer_id, CustomerProfile.event_count, CustomerProfile.traits)
        )
        profiles = {c: (n, loads(traits)) for c, n, traits in profile_rows}
        live = set(session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))
    assert set(members) <= live
    return {frozenset(idents): profiles[c] for c, idents in members.items()}


async def consumer_state(js: JetStreamContext, stream: str) -> tuple[int, int, int]:
    """(not yet delivered, delivered but not acked, redelivered) of the workers' consumer."""
    try:
        info = await js.consumer_info(stream, WORKER_DURABLE)
    except NotFoundError:  # the first worker creates it on its first fetch
        messages = (await js.stream_info(stream)).state.messages
        return messages, 0, 0
    return info.num_pending or 0, info.num_ack_pending or 0, info.num_redelivered or 0


async def run_worker(
    transport: JetStreamTransport,
    done: Callable[[], Awaitable[bool]],
    timeout: float = 20.0,
) -> None:
    """Run a worker (the transport, and the identity group following the table) until
    ``done()`` holds, then stop it as SIGTERM would."""
    stop, group_stop = asyncio.Event(), threading.Event()
    task = asyncio.create_task(transport.run(stop))
    group = ProcessorGroup("identity", (CustomerProcessor(),))
    runner = GroupRunner(transport.database, group, transport.batch_size)
    thread = threading.Thread(target=runner.run_forever, args=(group_stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not await done():
            if task.done():
                task.result()  # surface the worker's failure
                raise AssertionError("the worker loop ended on its own")
            assert time.monotonic() < deadline, "the worker did not finish in time"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        group_stop.set()
        await asyncio.wait_for(task, 10)
        await asyncio.to_thread(thread.join, 10)


def processed_through(db: Database) -> int:
    with db.read() as session:
        return (
            session.scalar(
                select(ProcessorOffset.position).where(ProcessorOffset.processor == "customers")
            )
            or 0
        )


def drained(
    db: Database, js: JetStreamContext, stream: str, events: int
) -> Callable[[], Awaitable[bool]]:
    """Done when the events table holds ``events`` rows, every message is acked and the
    identity group has processed the whole table."""

    async def check() -> bool:
        pending, unacked, _ = await consumer_state(js, stream)
        recorded = await asyncio.to_thread(count, db, EventRow)
        if not (pending == 0 and unacked == 0 and recorded == events):
            return False
        return await asyncio.to_thread(processed_through, db) == max(seqs(db))

    return check


# -- the worker ---------------------------------------------------------------------------------


def test_consumed_events_are_recorded_and_build_customers_once(db, nats_url, stream):
    source_id, _ = make_source(db)
    events = events_for(source_id, shop_calls())
    transport = JetStreamTransport(db, nats_url, stream, batch_size=3)

    async def scenario() -> None:
        nc, js = await connect(nats_url)
        log = JetStreamEventLog(nats_url, stream)
        try:
            await log.append(events)
            assert (await js.stream_info(stream)).state.messages == 8
            assert count(db, EventRow) == 0  # publishing does not touch the database

            await run_worker(transport, drained(db, js, stream, 8))
            # Recorded and acked: the stream keeps no second copy (work-queue retention).
            assert (await js.stream_info(stream)).state.messages == 0
            built = people(db)
            assert recorded_ids(db) == Counter(e.message_id for e in events)
            assert timeline_seqs(db) == Counter(seqs(db))
            assert {k: n for k, (n, _) in built.items()} == {
                frozenset({("anonymous_id", "wang-web"), ("anonymous_id", "wang-app"),
                           ("user_id", "crm-wang")}): 5,
                frozenset({("anonymous_id", "chen-web"), ("user_id", "crm-chen"),
                           ("email", "chen@example.cn")}): 3,
            }  # fmt: skip

            # A client retry: the same events with the same ids. JetStream drops them.
            await log.append(events)
            assert (await js.stream_info(stream)).state.messages == 0

            # A retry after JetStream's duplicate window (published without the id header):
            # stored again, delivered again, and the worker's insert makes it a no-op.
            for event in events:
                await js.publish(event_subject(stream, event), encode_event(event))
            assert (await js.stream_info(stream)).state.messages == 8
            await run_worker(transport, drained(db, js, stream, 8))
            assert (await consumer_state(js, stream))[:2] == (0, 0)
            assert recorded_ids(db) == Counter(e.message_id for e in events)
            assert timeline_seqs(db) == Counter(seqs(db))
            assert people(db) == built
            assert count(db, DeadLetter) == 0
        finally:
            await log.close()
            await nc.close()

    asyncio.run(scenario())


def test_a_crash_before_or_after_commit_neither_loses_nor_doubles(db, nats_url, stream):
    source_id, _ = make_source(db)
    calls = shop_calls()
    first, second = events_for(source_id, calls[:5]), events_for(source_id, calls[5:])
    transport = JetStreamTransport(db, nats_url, stream)
    commit = transport.record

    def crash_before_commit(rows: list[StoredRow]) -> None:
        raise Crash

    def crash_after_commit(rows: list[StoredRow]) -> None:
        commit(rows)
        raise Crash

    async def crash_with(behaviour: Callable[[list[StoredRow]], None]) -> None:
        transport.record = behaviour  # type: ignore[method-assign]
        stop = asyncio.Event()
        with pytest.raises(Crash):
            await asyncio.wait_for(transport.run(stop), 10)
        del transport.record

    async def scenario() -> None:
        nc, js = await connect(nats_url)
        log = JetStreamEventLog(nats_url, stream)
        try:
            await log.append(first)
            # The workers' consumer, with a short ack wait so that redelivery is quick.
            await js.add_consumer(
                stream,
                ConsumerConfig(
                    durable_name=WORKER_DURABLE,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=1,
                    filter_subject=stream_filter(stream),
                ),
            )

            # Dies before its transaction commits: nothing recorded, nothing acked.
            await crash_with(crash_before_commit)
            assert count(db, EventRow) == 0
            assert (await consumer_state(js, stream))[1] > 0
            await run_worker(transport, drained(db, js, stream, 5))
            assert recorded_ids(db) == Counter(e.message_id for e in first)
            assert timeline_seqs(db) == Counter(seqs(db))

            # Dies after its commit, before the ack: the redelivered events are no-ops.
            await log.append(second)
            await crash_with(crash_after_commit)
            committed = set(recorded_ids(db)) - {e.message_id for e in first}
            assert committed
            assert (await consumer_state(js, stream))[1] == len(committed)

            delivered: list[str] = []

            def watched(rows: list[StoredRow]) -> None:
                delivered.extend(row[1] for row in rows)
                commit(rows)

            transport.record = watched  # type: ignore[method-assign]
            await run_worker(transport, drained(db, js, stream, 8))
            assert committed <= set(delivered)  # they really came back
            assert recorded_ids(db) == Counter(e.message_id for e in first + second)
            assert timeline_seqs(db) == Counter(seqs(db))
            assert sorted(n for n, _ in people(db).values()) == [3, 5]
            assert count(db, DeadLetter) == 0
        finally:
            await log.close()
            await nc.close()

    asyncio.run(scenario())


def test_an_unreadable_message_is_dropped_and_does_not_block_the_rest(db, nats_url, stream):
    source_id, _ = make_source(db)
    events = events_for(source_id, shop_calls()[:3])
    transport = JetStreamTransport(db, nats_url, stream)

    async def scenario() -> None:
        nc, js = await connect(nats_url)
        log = JetStreamEventLog(nats_url, stream)
        try:
            await log.append(events[:1])
            await js.publish(event_subject(stream, events[0]), b"\x00not json")
            await log.append(events[1:])
            await run_worker(transport, drained(db, js, stream, 3))
            assert recorded_ids(db) == Counter(e.message_id for e in events)
            assert (await consumer_state(js, stream))[:2] == (0, 0)  # terminated, not pending
        finally:
            await log.close()
            await nc.close()

    asyncio.run(scenario())


# -- the tracking API ---------------------------------------------------------------------------


@pytest.fixture
def nats_app(settings, monkeypatch) -> Callable[[str, str], TestClient]:
    """The app configured for a JetStream log at a given URL and stream."""

    def make(url: str, stream: str) -> TestClient:
        monkeypatch.setenv("OMNICX_EVENT_LOG", url)
        monkeypatch.setenv("OMNICX_NATS_STREAM", stream)
        reset_settings()
        configured = get_settings()
        assert configured.uses_nats
        assert configured.resolved_database_url == settings.resolved_database_url
        english = {"Accept-Language": "en"}  # the assertions quote the English messages
        return TestClient(create_app(configured, background=False), headers=english)

    return make


def test_batch_is_acknowledged_after_jetstream_stored_it(db, nats_url, stream, nats_app):
    _, key = make_source(db)
    calls = shop_calls()[:3]

    async def stored() -> int:
        nc, js = await connect(nats_url)
        try:
            return (await js.stream_info(stream)).state.messages
        finally:
            await nc.close()

    with nats_app(nats_url, stream) as client:
        response = client.post("/v1/batch", json={"batch": calls}, auth=(key, ""))
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True, "accepted": 3, "rejected": []}
        assert asyncio.run(stored()) == 3
        # The SDK retries (it did not see the answer): accepted, stored once.
        again = client.post("/v1/batch", json={"batch": calls}, auth=(key, ""))
        assert again.status_code == 200
        assert asyncio.run(stored()) == 3
    assert count(db, EventRow) == 0  # the API publishes; workers record


def test_batch_is_refused_when_jetstream_does_not_confirm_storage(db, nats_url, stream, nats_app):
    _, key = make_source(db)

    async def small_stream() -> None:
        nc, js = await connect(nats_url)
        try:
            await js.add_stream(
                StreamConfig(
                    name=stream,
                    subjects=[stream_filter(stream)],
                    storage=StorageType.FILE,
                    max_msgs=2,
                    discard=DiscardPolicy.NEW,
                )
            )
        finally:
            await nc.close()

    asyncio.run(small_stream())
    with nats_app(nats_url, stream) as client:
        response = client.post("/v1/batch", json={"batch": shop_calls()[:3]}, auth=(key, ""))
    # The third event was refused by the stream: the request is not acknowledged.
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"]["code"] == "unavailable"
    assert "did not confirm storage of 1 of 3 events" in body["error"]["message"]
    assert "maximum messages exceeded" in body["error"]["message"]  # the stream's own answer
    assert "success" not in body


def test_batch_answers_503_with_the_error_shape_when_nats_is_unreachable(db, nats_app):
    _, key = make_source(db)
    with nats_app("nats://127.0.0.1:1", "OMNICX_UNREACHABLE") as client:
        response = client.post("/v1/batch", json={"batch": shop_calls()[:2]}, auth=(key, ""))
        single = client.post("/v1/track", json=shop_calls()[1], auth=(key, ""))
    for answer in (response, single):
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert set(body) == {"error"}
        assert body["error"]["code"] == "unavailable"
        assert body["error"]["message"].startswith("event log unavailable")
        assert body["error"]["field"] is None
    assert count(db, EventRow) == 0
