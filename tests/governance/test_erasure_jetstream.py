"""With the JetStream log, an erasure deletes the stream's copies of the person's events
too: workers record each event's stream sequence (``events.log_seq``), and the erasure
deletes those messages after it commits; other people's messages stay."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import select

from omnicx.core.eventlog.jetstream import JetStreamEventLog
from omnicx.core.eventlog.models import EventRow
from omnicx.core.processing import Pipeline
from omnicx.core.settings import reset_settings
from omnicx.customers.projection import CustomerProcessor
from omnicx.governance import privacy
from omnicx.governance.service import SYSTEM
from omnicx.runtime.privacy import wire
from tests.core.test_jetstream import connect, drained, events_for, run_worker
from tests.factories import call, make_source
from tests.governance.privacy_people import EMAIL, customer_of, li_na_calls

pytestmark = pytest.mark.nats


def test_erasure_deletes_the_stream_copies(db, nats_url, stream, monkeypatch):
    source_id, _ = make_source(db)
    theirs = events_for(source_id, li_na_calls())
    stranger = events_for(source_id, [call("track", 50, userId="someone", event="Login")])
    pipeline = Pipeline(db, [CustomerProcessor()], batch_size=2)

    async def consume() -> None:
        nc, js = await connect(nats_url)
        log = JetStreamEventLog(nats_url, stream)
        try:
            await log.append(theirs + stranger)
            await run_worker(pipeline, nats_url, stream, drained(db, js, stream, len(theirs) + 1))
        finally:
            await log.close()
            await nc.close()

    asyncio.run(consume())
    with db.read() as session:
        log_seqs = dict(session.execute(select(EventRow.message_id, EventRow.log_seq)).all())
    assert sorted(log_seqs.values()) == list(range(1, len(theirs) + 2)), "every stream seq kept"

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
    done = privacy.run_request(db, request_id, SYSTEM)

    assert done.status == "completed", done.error
    assert privacy.result_of(done)["stream_messages"] == {
        "deleted": len(theirs),
        "already_gone": 0,
    }

    async def stored() -> set[int]:
        nc, js = await connect(nats_url)
        found = set()
        try:
            for seq in log_seqs.values():
                try:
                    await js.get_msg(stream, seq)
                    found.add(seq)
                except NotFoundError:
                    pass
        finally:
            await nc.close()
        return found

    assert asyncio.run(stored()) == {log_seqs[stranger[0].message_id]}

    # She writes again: the worker redacts the rows and drops the stream's copies.
    again = events_for(source_id, li_na_calls())
    total = len(log_seqs) + len(again)

    async def consume_again() -> set[int]:
        nc, js = await connect(nats_url)
        log = JetStreamEventLog(nats_url, stream)
        try:
            await log.append(again)
            await run_worker(pipeline, nats_url, stream, drained(db, js, stream, total))
            kept = set()
            for seq in range(len(log_seqs) + 1, total + 1):
                try:
                    await js.get_msg(stream, seq)
                    kept.add(seq)
                except NotFoundError:
                    pass
            return kept
        finally:
            await log.close()
            await nc.close()

    assert asyncio.run(consume_again()) == set()
    with db.read() as session:
        rows = session.execute(select(EventRow.log_seq, EventRow.payload)).all()
    redacted = {seq for seq, payload in rows if '"redacted":"suppressed"' in payload}
    assert redacted == set(range(len(log_seqs) + 1, total + 1))

    # Running it again finds the messages gone and says so, without failing.
    with db.write() as session:
        privacy.fail_request(session, privacy.get_request(session, request_id), "re-run")
    again = privacy.run_request(db, request_id, SYSTEM)
    assert again.status == "completed"
    assert privacy.result_of(again)["stream_messages"] == {
        "deleted": 0,
        "already_gone": len(theirs),
    }
