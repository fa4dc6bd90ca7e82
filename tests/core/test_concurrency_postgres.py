"""Several worker processes end with the same customers as one worker, even when the one
leading identity is SIGKILLed in the middle.

~3,000 events over a pool of identifiers that overlap a lot (each person shows up on
several devices and channels before being identified; some households share a device),
published to a JetStream stream, moved into the events table by four ``omnicx worker``
processes at once and processed by the groups they lead, into one fresh PostgreSQL
database; and by one worker into another. Once identity is under way its leader is killed
with SIGKILL: a standby takes the lease over. The partitions of identifiers into customers
must be identical, and nothing may be lost or doubled on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import create_engine, func, select, text

from omnicx.core.database import Database
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.jetstream import WORKER_DURABLE, JetStreamEventLog
from omnicx.core.eventlog.models import DeadLetter, EventRow, ProcessorOffset
from omnicx.core.migrate import upgrade
from omnicx.core.time import utcnow
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.identity.models import Customer, Identifier
from omnicx.ingest.sources import create_source
from omnicx.ingest.tracking import to_log_event
from tests.conftest import NATS_URL, POSTGRES_URL, require_service

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.nats]

EVENTS = 3000
PEOPLE = 260
WORKERS = 4
BATCH_SIZE = 20  # small batches: many concurrent transactions, many collisions
DEADLINE_SECONDS = 120

Partition = frozenset[frozenset[tuple[str, str, str]]]


# -- the data -----------------------------------------------------------------------------------


def person_pool(rng: random.Random) -> list[dict[str, list[str]]]:
    pool: list[dict[str, list[str]]] = []
    for p in range(PEOPLE):
        pool.append(
            {
                "user": [f"crm-{p}"] if rng.random() < 0.7 else [],
                "email": [f"p{p}.{i}@example.cn" for i in range(rng.randint(1, 2))],
                "phone": [f"139{p:04d}{i:04d}" for i in range(rng.randint(0, 2))],
                "device": [f"dev-{p}-{i}" for i in range(rng.randint(1, 2))],
                "anon": [f"anon-{p}-{i}" for i in range(rng.randint(2, 4))],
            }
        )
    # Households: a tablet used by two people. Where both have a CRM id, the unique-type
    # guardrail keeps them apart (the conflict path); otherwise they become one customer.
    for p in range(0, PEOPLE - 1, 9):
        shared = f"tablet-{p}"
        pool[p]["device"].append(shared)
        pool[p + 1]["device"].append(shared)
    return pool


def calls(seed: int = 20261122) -> list[dict[str, Any]]:
    """Events that each show 1-3 of a person's identifiers, in random order."""
    rng = random.Random(seed)
    pool = person_pool(rng)
    out: list[dict[str, Any]] = []
    for n in range(EVENTS):
        person = rng.choice(pool)
        kinds = [k for k in ("user", "email", "phone", "device", "anon") if person[k]]
        chosen = rng.sample(kinds, k=min(len(kinds), rng.randint(1, 3)))
        if "user" not in chosen and "anon" not in chosen:
            chosen.append("anon")  # Segment needs userId or anonymousId
        body: dict[str, Any] = {
            "messageId": f"conc-{n}",
            "timestamp": f"2026-01-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
        }
        traits: dict[str, Any] = {"visits": n}
        context: dict[str, Any] = {}
        for kind in chosen:
            value = rng.choice(person[kind])
            if kind == "user":
                body["userId"] = value
            elif kind == "anon":
                body["anonymousId"] = value
            elif kind == "device":
                context["device"] = {"id": value}
            else:
                traits[kind] = value
        if rng.random() < 0.3:
            body.update(type="identify", traits=traits)
        else:
            body.update(type="track", event=rng.choice(["Viewed", "Ordered", "Chatted"]))
            context["traits"] = traits
        body["context"] = context
        out.append(body)
    return out


def events_for(source_id: int) -> list[LogEvent]:
    received = utcnow()
    return [
        to_log_event(source_id, c, event_type=None, prefix="", received_at=received, sent_at=None)
        for c in calls()
    ]


# -- databases, streams, processes ----------------------------------------------------------------


def _driver_url(url: str) -> str:
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


@pytest.fixture
def fresh_databases() -> Iterator[list[str]]:
    """Two new, migrated PostgreSQL databases; dropped afterwards."""
    require_service("PostgreSQL", POSTGRES_URL, 5432)
    admin = create_engine(_driver_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    names = [f"omnicx_conc_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    urls = [POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}" for name in names]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        for url in urls:
            upgrade(url)
        yield urls
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def streams() -> Iterator[list[str]]:
    require_service("NATS JetStream", NATS_URL, 4222)
    names = [f"OMNICX_CONC_{uuid.uuid4().hex[:10].upper()}" for _ in range(2)]
    yield names

    async def delete() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            for name in names:
                with contextlib.suppress(NotFoundError):
                    await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(delete())


def publish(stream: str, events: list[LogEvent]) -> None:
    async def run() -> None:
        log = JetStreamEventLog(NATS_URL, stream)
        try:
            for start in range(0, len(events), 500):
                await log.append(events[start : start + 500])
        finally:
            await log.close()

    asyncio.run(run())


def start_workers(count: int, url: str, stream: str, home: Path) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNICX_")}
    env.update(
        OMNICX_ENV="test",
        OMNICX_HOME=str(home),
        OMNICX_DATABASE_URL=url,
        OMNICX_EVENT_LOG=NATS_URL,
        OMNICX_NATS_STREAM=stream,
        OMNICX_PROCESSOR_BATCH_SIZE=str(BATCH_SIZE),
    )
    home.mkdir(parents=True, exist_ok=True)
    omnicx = Path(sys.executable).parent / "omnicx"
    return [
        subprocess.Popen(
            [str(omnicx), "worker"],
            env=env,
            cwd=home,
            stdout=(home / f"worker-{i}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for i in range(count)
    ]


def logs(home: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(home.glob("worker-*.log")))


def stop(workers: list[subprocess.Popen[bytes]]) -> list[int]:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    codes = []
    for worker in workers:
        try:
            codes.append(worker.wait(timeout=20))
        except subprocess.TimeoutExpired:
            worker.kill()
            codes.append(worker.wait())
    return codes


def caught_up(url: str) -> bool:
    """Every processor group has processed the whole events table."""
    engine = create_engine(_driver_url(url))
    try:
        with engine.connect() as conn:
            head = conn.scalar(select(func.max(EventRow.seq))) or 0
            positions = dict(
                conn.execute(select(ProcessorOffset.processor, ProcessorOffset.position)).all()
            )
    finally:
        engine.dispose()
    return head > 0 and [positions.get(n) for n in ("customers", "consent")] == [head, head]


def recorded(url: str) -> int:
    engine = create_engine(_driver_url(url))
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(EventRow)) or 0
    finally:
        engine.dispose()


async def consumer_settled(stream: str) -> bool:
    nc = await nats.connect(NATS_URL)
    try:
        info = await nc.jetstream().consumer_info(stream, WORKER_DURABLE)
        return info.num_pending == 0 and info.num_ack_pending == 0
    except NotFoundError:
        return False
    finally:
        await nc.close()


def identity_position(url: str) -> int:
    engine = create_engine(_driver_url(url))
    try:
        with engine.connect() as conn:
            return (
                conn.scalar(
                    select(ProcessorOffset.position).where(ProcessorOffset.processor == "customers")
                )
                or 0
            )
    finally:
        engine.dispose()


def kill_identity_leader(url: str, home: Path, workers: list[subprocess.Popen[bytes]]) -> int:
    """SIGKILL the worker leading the identity group once it is under way; its index."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while identity_position(url) == 0:
        assert time.monotonic() < deadline, "identity never started"
        time.sleep(0.05)
    for index, worker in enumerate(workers):
        log = (home / f"worker-{index}.log").read_text(errors="replace")
        if "group identity: this worker leads it now" in log:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            return index
    raise AssertionError("no worker says it leads identity")


def wait_until_processed(
    runs: list[tuple[str, str, Path, list[subprocess.Popen[bytes]]]],
) -> None:
    """Until every event is recorded, every message acked (acked = committed) and every
    group has processed the table."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    waiting = list(runs)
    while waiting:
        for run in list(waiting):
            url, stream, home, workers = run
            dead = [w.pid for w in workers if w.poll() not in (None, -signal.SIGKILL)]
            assert not dead, f"worker(s) {dead} exited:\n{logs(home)[-4000:]}"
            settled = recorded(url) == EVENTS and asyncio.run(consumer_settled(stream))
            if settled and caught_up(url):
                waiting.remove(run)
        assert time.monotonic() < deadline, "not processed in time:\n" + "\n".join(
            f"{r[1]}: {recorded(r[0])} recorded\n{logs(r[2])[-2000:]}" for r in waiting
        )
        time.sleep(0.3)


# -- what the database ended with --------------------------------------------------------------


def partition(db: Database) -> Partition:
    with db.read() as session:
        members: dict[int, set[tuple[str, str, str]]] = {}
        rows = session.execute(
            select(Identifier.customer_id, Identifier.type, Identifier.scope, Identifier.value)
        )
        for customer_id, kind, scope, value in rows:
            assert customer_id is not None, f"{kind} {value} has no customer"
            members.setdefault(customer_id, set()).add((kind, scope, value))
    return frozenset(frozenset(m) for m in members.values())


def check_consistent(db: Database) -> dict[str, int]:
    """Nothing lost or doubled: every event once on a timeline, counts that add up."""
    with db.read() as session:
        events = session.scalar(select(func.count()).select_from(EventRow))
        distinct_ids = session.scalar(select(func.count(func.distinct(EventRow.message_id))))
        timeline = session.scalar(select(func.count()).select_from(TimelineEntry))
        distinct_timeline = session.scalar(
            select(func.count(func.distinct(TimelineEntry.event_seq)))
        )
        counted = session.scalar(select(func.sum(CustomerProfile.event_count)))
        letters = session.scalar(select(func.count()).select_from(DeadLetter))
        live = set(session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))
        owners = set(session.scalars(select(Identifier.customer_id).distinct()))
        profiled = set(session.scalars(select(CustomerProfile.customer_id)))
        on_timeline = set(session.scalars(select(TimelineEntry.customer_id).distinct()))
    assert events == distinct_ids == EVENTS
    assert letters == 0
    assert timeline == distinct_timeline == EVENTS  # every event has identifiers
    assert counted == EVENTS
    assert owners <= live, "an identifier points at a merged-away customer"
    assert profiled == owners, "profiles and customers with identifiers differ"
    assert on_timeline <= profiled
    return {"customers": len(owners)}


def profile_counts(db: Database) -> dict[frozenset[tuple[str, str, str]], int]:
    """Each customer (as its identifiers) → its event count."""
    with db.read() as session:
        members: dict[int, set[tuple[str, str, str]]] = {}
        rows = session.execute(
            select(Identifier.customer_id, Identifier.type, Identifier.scope, Identifier.value)
        )
        for customer_id, kind, scope, value in rows:
            members.setdefault(customer_id, set()).add((kind, scope, value))
        counts = dict(
            session.execute(select(CustomerProfile.customer_id, CustomerProfile.event_count)).all()
        )
    return {frozenset(m): counts[c] for c, m in members.items()}


# -- the test ------------------------------------------------------------------------------------


def test_four_workers_one_killed_build_the_same_customers_as_one(
    fresh_databases, streams, tmp_path
):
    many_url, one_url = fresh_databases
    many_stream, one_stream = streams
    for url in fresh_databases:
        database = Database(url)
        with database.write() as session:
            source, _ = create_source(session, "concurrency")
            source_id = source.id
        database.dispose()
    events = events_for(source_id)
    publish(many_stream, events)
    publish(one_stream, events)

    many_home, one_home = tmp_path / "four", tmp_path / "one"
    many = start_workers(WORKERS, many_url, many_stream, many_home)
    one = start_workers(1, one_url, one_stream, one_home)
    try:
        killed = kill_identity_leader(many_url, many_home, many)
        assert identity_position(many_url) < EVENTS, "killed too late: identity had finished"
        wait_until_processed(
            [(many_url, many_stream, many_home, many), (one_url, one_stream, one_home, one)]
        )
    finally:
        codes = stop(many + one)
    expected_codes = [0] * (WORKERS + 1)
    expected_codes[killed] = -signal.SIGKILL
    assert codes == expected_codes, logs(many_home)[-4000:]
    survivors = [i for i in range(WORKERS) if i != killed]
    assert any(
        "group identity: this worker leads it now"
        in (many_home / f"worker-{i}.log").read_text(errors="replace")
        for i in survivors
    ), "no standby took identity over"

    many_db, one_db = Database(many_url), Database(one_url)
    try:
        shape = check_consistent(many_db)
        assert check_consistent(one_db) == shape
        expected = partition(one_db)
        assert len(expected) < len({c.get("userId") or c.get("anonymousId") for c in calls()})
        assert partition(many_db) == expected
        assert profile_counts(many_db) == profile_counts(one_db)
    finally:
        many_db.dispose()
        one_db.dispose()

    worker_logs = logs(many_home)
    retries = [line for line in worker_logs.splitlines() if "retrying" in line]
    print(f"\n{shape['customers']} customers; {len(retries)} batch attempts retried:")
    print("\n".join(sorted({line.split("failed (")[-1] for line in retries})))
    assert "Traceback" not in worker_logs, worker_logs[-4000:]
