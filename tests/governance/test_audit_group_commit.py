"""Group commit of the audit chain: concurrent reads share a write transaction, each
caller returns only once its own entry has committed, and a failed transaction reaches
every caller in it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, select

from omnicx.governance.audit import (
    AuditUnavailable,
    GroupCommit,
    commit_entry,
    draft,
    group_commit,
    verify,
)
from omnicx.governance.models import AuditEntry, AuditHead
from omnicx.governance.service import Principal
from tests.governance.masking_people import seed_person, token_for

AGENT = Principal(kind="user", id=7, name="li.na@corp.cn", role="agent")


def view_of(customer_id: int):
    return draft(AGENT, "customer.view", target_type="customer", target_id=customer_id)


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_concurrent_entries_keep_one_unbroken_chain_in_fewer_transactions(db):
    threads, per_thread = 8, 25
    start = threading.Barrier(threads)
    committer = group_commit(db)
    before = committer.transactions

    def read(n):
        start.wait()
        return [commit_entry(db, view_of(n * 1000 + i)) for i in range(per_thread)]

    with ThreadPoolExecutor(threads) as pool:
        returned = list(pool.map(read, range(threads)))
    total = threads * per_thread
    with db.read() as session:
        report = verify(session)
        rows = session.execute(select(AuditEntry.id, AuditEntry.target_id))
        targets = {entry_id: target for entry_id, target in rows}
    assert report.ok and report.checked == total
    # Each caller got the id of its own entry.
    for n, ids in enumerate(returned):
        assert [targets[i] for i in ids] == [str(n * 1000 + i) for i in range(per_thread)]
    # Eight threads appending at once share transactions.
    assert committer.transactions - before < total


def test_callers_wait_for_the_commit_and_then_share_one_transaction(db):
    # While another transaction holds the chain's head (the write lock on SQLite, the
    # head row on PostgreSQL) nobody may return; once it commits, the entries that
    # queued meanwhile go in one transaction.
    committer = GroupCommit()
    readers = 6
    returned: list[int] = []
    holding, release = threading.Event(), threading.Event()

    def hold_the_head():
        with db.write() as session:
            session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
            holding.set()
            release.wait(20)

    def read(n):
        returned.append(committer.append(db, view_of(n)))

    holder = threading.Thread(target=hold_the_head)
    holder.start()
    holding.wait(10)
    callers = [threading.Thread(target=read, args=(n,)) for n in range(readers)]
    for caller in callers:
        caller.start()
    # The first caller leads a transaction that waits for the head; the rest queue.
    wait_for(lambda: committer.waiting == readers - 1)
    time.sleep(0.1)
    assert returned == []
    with db.read() as session:
        assert session.scalar(select(AuditEntry.id)) is None
    release.set()
    holder.join()
    for caller in callers:
        caller.join(20)
    assert sorted(returned) == list(range(1, readers + 1))
    assert committer.transactions == 2
    with db.read() as session:
        assert verify(session).ok


def test_a_failed_transaction_reaches_every_caller_and_nothing_is_half_written(db):
    committer = GroupCommit()
    with db.write() as session:
        session.execute(delete(AuditHead))  # the chain has no head: appends fail
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(committer.append, db, view_of(n)) for n in range(4)]
        for future in futures:
            with pytest.raises(AuditUnavailable):
                future.result(20)
    with db.read() as session:
        assert session.scalar(select(AuditEntry.id)) is None


def test_a_read_is_not_answered_when_its_audit_entry_cannot_be_written(client, db):
    customer_id = seed_person(client, db)
    agent = token_for(db, "agent")
    with db.write() as session:
        session.execute(delete(AuditHead))
    for url in (
        f"/api/v1/customers/{customer_id}",
        f"/api/v1/customers/{customer_id}/timeline",
        "/api/v1/customers/lookup?type=user_id&value=crm-masking-1",
    ):
        response = client.get(url, headers=agent)
        assert response.status_code == 503, (url, response.text)
        assert response.json()["error"]["code"] == "audit_unavailable"
        assert "138" not in response.text and "SO-0001" not in response.text


def test_a_lone_reader_does_not_linger_for_company(db):
    # Lingering is for readers that arrive together; one reader at a time never waits.
    committer = GroupCommit(linger=3.0)
    for n in range(3):
        started = time.monotonic()
        committer.append(db, view_of(n))
        assert time.monotonic() - started < 2.0
    assert committer.transactions == 3
