"""An erasure on SQLite is completed only once the WAL that may still hold the person's
old page images is truncated: while readers keep the checkpoint from truncating it the
request stays in progress, and the workers retry until it is (docs/security.md)."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from omnicx.cli.operator import operator
from omnicx.governance import privacy
from omnicx.governance.models import PrivacyRequest
from omnicx.runtime.privacy import erasure_finisher, wire
from tests.factories import make_source
from tests.governance.privacy_people import send_li_na


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the WAL is SQLite's; PostgreSQL's erasure ends with VACUUM


def erase_li_na(client, db) -> int:
    wire()
    _, key = make_source(db)
    customer = send_li_na(client, db, key)
    with db.write() as session:
        request = privacy.open_request(
            session, "erase", reason="客户要求删除", actor=operator(), customer_id=customer
        )
        request_id = request.id
    privacy.run_request(db, request_id, operator())
    return request_id


def request_row(db, request_id: int) -> PrivacyRequest:
    with db.read() as session:
        row = privacy.get_request(session, request_id)
        session.expunge(row)
        return row


def test_a_held_wal_keeps_the_erasure_in_progress_until_the_workers_truncate_it(
    client, db, settings
):
    wal = settings.home / "omnicx.db-wal"
    reader = sqlite3.connect(settings.home / "omnicx.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()  # a snapshot from before
    try:
        request_id = erase_li_na(client, db)
        waiting = request_row(db, request_id)
        assert waiting.status == "in_progress" and waiting.completed_at is None
        result = privacy.result_of(waiting)
        assert result["storage"] == privacy.WAL_WAITING and result["counts"]["identifiers"] == 9
        assert wal.stat().st_size > 0
        assert privacy.finish_waiting_erasures(db) == []  # the reader still holds it
        assert request_row(db, request_id).status == "in_progress"
    finally:
        reader.execute("ROLLBACK")
        reader.close()

    stop = threading.Event()
    worker = threading.Thread(target=erasure_finisher(db, stop, every=0.05))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while request_row(db, request_id).status != "completed":
            assert time.monotonic() < deadline, "the workers never completed the erasure"
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join()
    done = request_row(db, request_id)
    assert privacy.result_of(done)["storage"] == "checkpointed" and done.completed_at
    # Truncated by the checkpoint that completed it (only the completion written since).
    assert wal.stat().st_size < 64 * 1024


def test_without_readers_the_erasure_completes_at_once(client, db):
    request_id = erase_li_na(client, db)
    done = request_row(db, request_id)
    assert done.status == "completed"
    assert privacy.result_of(done)["storage"] == "checkpointed"
