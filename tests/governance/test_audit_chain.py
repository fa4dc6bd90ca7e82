"""The audit chain: entries link by hash; a changed, removed or cut row is detected."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import delete, select, update

from omnicx.governance.audit import record, verify
from omnicx.governance.models import AuditEntry
from omnicx.governance.service import Principal

ADMIN = Principal(kind="user", id=1, name="root@corp.cn", role="admin")


def write_entries(db, count=5):
    with db.write() as session:
        for i in range(count):
            record(session, ADMIN, "customer.view", target_type="customer", target_id=i + 1)


def test_an_untouched_chain_verifies(db):
    write_entries(db)
    with db.read() as session:
        report = verify(session)
    assert report.ok and report.checked == 5


def test_a_modified_row_is_detected(db):
    write_entries(db)
    with db.write() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == 3).values(actor="user:x@y.cn"))
    with db.read() as session:
        report = verify(session)
    assert not report.ok and report.broken_at == 3 and "changed" in (report.problem or "")


def test_a_deleted_row_is_detected(db):
    write_entries(db)
    with db.write() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == 2))
    with db.read() as session:
        report = verify(session)
    assert not report.ok and report.broken_at == 2


def test_a_cut_tail_is_detected(db):
    write_entries(db)
    with db.write() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id >= 4))
    with db.read() as session:
        report = verify(session)
    assert not report.ok and report.broken_at == 4


def test_a_rehashed_forgery_is_still_detected_by_its_successor(db):
    # Someone who edits a row and recomputes its hash must rewrite every later row and the
    # head too; rewriting just the one row leaves the next link pointing at the old hash.
    from omnicx.governance.audit import _digest

    write_entries(db)
    with db.write() as session:
        row = session.get(AuditEntry, 2)
        row.target_id = "999"
        row.hash = _digest(row.prev_hash, row)
    with db.read() as session:
        report = verify(session)
    assert not report.ok and report.broken_at == 3


def test_concurrent_writers_keep_one_unbroken_chain(db):
    # Each writer appends in its own transaction, as requests and workers do; the head row
    # lock must serialise them so that no two entries claim the same place in the chain.
    writers, per_writer = 8, 15
    start = threading.Barrier(writers)

    def write(n):
        start.wait()
        for i in range(per_writer):
            with db.write() as session:
                record(
                    session, ADMIN, "customer.view", target_type="customer", target_id=n * 100 + i
                )

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    with db.read() as session:
        report = verify(session)
        ids = list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))
        targets = set(session.scalars(select(AuditEntry.target_id)))
    total = writers * per_writer
    assert report.ok and report.checked == total
    assert ids == list(range(1, total + 1))
    assert len(targets) == total
