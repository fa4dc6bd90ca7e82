"""With the JetStream log, an erasure leaves no copy of the person in the stream.

A stream OmniCX creates keeps a message only until a worker has recorded it (work-queue
retention): afterwards the events table is the only copy, and erasure redacts it there. A
stream created by an older version keeps messages by limits; workers record each event's
stream sequence (``events.log_seq``), and the erasure deletes those messages after it
commits; other people's messages stay.
"""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy import select

from omnicx.core.eventlog.jetstream import JetStreamEventLog, stream_filter
from omnicx.core.eventlog.models import EventRow
from omnicx.core.processing.transport import JetStreamTransport
from omnicx.core.settings import reset_settings
from omnicx.governance import privacy
from omnicx.governance.service import SYSTEM
from omnicx.runtime.privacy import wire
from tests.core.test_jetstream import connect, drained, events_for, run_worker
from tests.factories import call, make_source
from tests.governance.privacy_people import EMAIL, customer_of, li_na_calls

pytestmark = pytest.mark.nats


def erase_li_na(db, nats_url, stream, monkeypatch) -> privacy.PrivacyRequest:
    monkeypatch.setenv("OMNICX_EVENT_LOG", nats_url)
    monkeypatch.setenv("OMNICX_NATS_STREAM", stream)
    reset_settings()
    wire()
    with db.write() as session:
        request = privacy.open_request(
            session,
            "erase",
            reason="test",
            actor=SYSTEM,
            customer_id=customer_of(db, "email", EMAIL),
        )
        request_id = request.id
    return privacy.run_request(db, request_id, SYSTEM)


def stored_messages(nats_url: str, stream: str, sequences) -> set[int]:
    async def stored() -> set[int]:
        nc, js = await connect(nats_url)
        found = set()
        try:
            for seq in sequences:
                try:
                    await js.get_msg(stream, seq)
                    found.add(seq)
                except NotFoundError:
                    pass
        finally:
            await nc.close()
        return found

    return asyncio.run(stored())


def record(db, nats_url, stream, events, total) -> None:
    async def consume() -> None:
        nc, js = await connect(nats_url)
        log = JetStreamEventLog(nats_url, stream)
        try:
            await log.append(events)
            transport = JetStreamTransport(db, nats_url, stream, batch_size=2)
            await run_worker(transport, drained(db, js, stream, total))
        finally:
            await log.close()
            await nc.close()

    asyncio.run(consume())


def test_a_new_stream_keeps_no_copy_of_what_was_recorded(db, nats_url, stream, monkeypatch):
    source_id, _ = make_source(db)
    theirs = events_for(source_id, li_na_calls())
    stranger = events_for(source_id, [call("track", 50, userId="someone", event="Login")])
    record(db, nats_url, stream, theirs + stranger, len(theirs) + 1)
    assert stored_messages(nats_url, stream, range(1, len(theirs) + 2)) == set()

    done = erase_li_na(db, nats_url, stream, monkeypatch)
    assert done.status == "completed", done.error
    assert privacy.result_of(done)["stream_messages"] == {
        "deleted": 0,
        "already_gone": len(theirs),
    }

    # She writes again: her rows are redacted and the stream holds nothing of hers.
    again = events_for(source_id, li_na_calls())
    total = len(theirs) + 1 + len(again)
    record(db, nats_url, stream, again, total)
    assert stored_messages(nats_url, stream, range(1, total + 1)) == set()
    with db.read() as session:
        rows = session.execute(select(EventRow.log_seq, EventRow.payload)).all()
    redacted = {seq for seq, payload in rows if '"redacted":"suppressed"' in payload}
    assert redacted == set(range(len(theirs) + 2, total + 1))


def test_erasure_deletes_the_copies_an_older_limits_stream_keeps(db, nats_url, stream, monkeypatch):
    async def older_stream() -> None:
        nc, js = await connect(nats_url)
        try:
            await js.add_stream(
                StreamConfig(
                    name=stream,
                    subjects=[stream_filter(stream)],
                    storage=StorageType.FILE,
                    retention=RetentionPolicy.LIMITS,
                )
            )
        finally:
            await nc.close()

    asyncio.run(older_stream())
    source_id, _ = make_source(db)
    theirs = events_for(source_id, li_na_calls())
    stranger = events_for(source_id, [call("track", 50, userId="someone", event="Login")])
    record(db, nats_url, stream, theirs + stranger, len(theirs) + 1)
    with db.read() as session:
        log_seqs = dict(session.execute(select(EventRow.message_id, EventRow.log_seq)).all())
    assert sorted(log_seqs.values()) == list(range(1, len(theirs) + 2)), "every stream seq kept"

    done = erase_li_na(db, nats_url, stream, monkeypatch)
    assert done.status == "completed", done.error
    assert privacy.result_of(done)["stream_messages"] == {
        "deleted": len(theirs),
        "already_gone": 0,
    }
    kept = stored_messages(nats_url, stream, log_seqs.values())
    assert kept == {log_seqs[stranger[0].message_id]}

    # Running it again finds the messages gone and says so, without failing.
    with db.write() as session:
        privacy.fail_request(session, privacy.get_request(session, done.id), "re-run")
    again = privacy.run_request(db, done.id, SYSTEM)
    assert again.status == "completed"
    assert privacy.result_of(again)["stream_messages"] == {
        "deleted": 0,
        "already_gone": len(theirs),
    }
