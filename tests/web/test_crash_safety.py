"""SIGKILL the server while clients are sending: nothing acknowledged is lost, nothing doubles.

Four clients send 3,000 events in batches of 50 with unique messageIds and, like a real
SDK, retry every batch that did not get a 200 (connection refused or reset, timeout, 5xx)
until it is acknowledged. The server is killed twice: in the middle of the stream, and
again (at a random moment) while the pipeline works through the backlog. Then:

* every batch acknowledged before a kill is already in the events table, read straight
  from the dead server's database (acknowledged only when durable);
* after the retries, every messageId is in the events table exactly once (a retry of a
  batch that was stored but whose response was lost is a no-op);
* the customer projection counts each event exactly once (the pipeline, cut off in the
  middle of a batch, replays it without losing or doubling), with no dead letters.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.live_server import LiveServer, live_server_on

pytestmark = pytest.mark.slow

EVENTS = 3_000
BATCH = 50
SENDERS = 4
USERS = 97
# Kill once this many batches are acknowledged: well inside the stream, whatever the speed.
KILL_AFTER_BATCHES = 15
KILL_NOT_LATER_THAN = 1.0  # seconds after the first acknowledgement
DELIVERY_TIMEOUT = 60.0
PROCESSING_TIMEOUT = 30.0
BASE_TIME = datetime(2026, 3, 1, tzinfo=UTC)
# Small pipeline transactions, so that the kill lands between and inside them.
PIPELINE_BATCH = "100"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    settings = {"OMNICX_PROCESSOR_BATCH_SIZE": PIPELINE_BATCH}
    with live_server_on(request.param, tmp_path, settings) as live:
        yield live


def make_batches(run: str) -> list[list[dict[str, Any]]]:
    calls = []
    for i in range(EVENTS):
        user = i % USERS
        calls.append(
            {
                "type": "track",
                "messageId": f"{run}-{i:05d}",
                "userId": f"user-{user}",
                # Each user also browses anonymously: identity links form while we crash.
                "anonymousId": f"anon-{user}-{i % 3}",
                "event": "Product Viewed",
                "properties": {"sku": f"SKU-{i % 40}", "n": i},
                "timestamp": (BASE_TIME + timedelta(seconds=i)).isoformat(),
            }
        )
    return [calls[i : i + BATCH] for i in range(0, EVENTS, BATCH)]


@dataclass
class Delivery:
    """What the clients saw: which batches were acknowledged, and how many attempts failed."""

    batches: list[list[dict[str, Any]]]
    acked: set[int] = field(default_factory=set)
    failed_attempts: int = 0
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    first_ack: threading.Event = field(default_factory=threading.Event)
    give_up: threading.Event = field(default_factory=threading.Event)

    def acked_ids(self, indexes: set[int]) -> set[str]:
        return {c["messageId"] for i in indexes for c in self.batches[i]}


def send_all(server: LiveServer, delivery: Delivery, deadline: float) -> list[threading.Thread]:
    """Start the sender threads: each takes batches off a queue and retries until a 2xx."""
    work: queue.Queue[int] = queue.Queue()
    for index in range(len(delivery.batches)):
        work.put(index)

    def sender() -> None:
        with httpx.Client(base_url=server.url, auth=(server.write_key, ""), timeout=5.0) as http:
            while True:
                try:
                    index = work.get_nowait()
                except queue.Empty:
                    return
                if delivery.give_up.is_set():
                    return
                while time.monotonic() < deadline and not delivery.give_up.is_set():
                    try:
                        r = http.post("/v1/batch", json={"batch": delivery.batches[index]})
                    except httpx.TransportError:
                        r = None
                    if r is not None and r.status_code == 200:
                        with delivery.lock:
                            delivery.acked.add(index)
                        delivery.first_ack.set()
                        break
                    with delivery.lock:
                        delivery.failed_attempts += 1
                        if r is not None and r.status_code < 500:
                            # A 4xx is not retryable: the test fails on it below.
                            delivery.refused.append(f"{r.status_code} {r.text[:300]}")
                            break
                    time.sleep(0.05)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    return threads


def stored_message_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT message_id FROM events"))]


def progress(engine: Engine) -> tuple[int, int]:
    """(position of the customer processor, last seq in the log)."""
    with engine.connect() as conn:
        last = conn.scalar(text("SELECT coalesce(max(seq), 0) FROM events")) or 0
        done = conn.scalar(
            text("SELECT position FROM processor_offsets WHERE processor = 'customers'")
        )
    return int(done or 0), int(last)


def wait_until_processed(engine: Engine, expected: int) -> None:
    deadline = time.monotonic() + PROCESSING_TIMEOUT
    while time.monotonic() < deadline:
        done, last = progress(engine)
        if done == last and len(stored_message_ids(engine)) == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"pipeline did not catch up: at {done} of {last}")


def kill_while_processing(server: LiveServer, engine: Engine) -> bool:
    """SIGKILL at a random moment after the pipeline, still behind, has committed some work.

    The moment is random so that, run after run, it falls anywhere in a pipeline batch:
    before, during or after its commit.
    """
    started_at, _ = progress(engine)
    deadline = time.monotonic() + PROCESSING_TIMEOUT
    while time.monotonic() < deadline:
        done, last = progress(engine)
        if started_at < done < last:
            time.sleep(random.uniform(0, 0.3))
            server.kill()
            return True
        time.sleep(0.005)
    return False


def assert_acknowledged_are_stored(engine: Engine, delivery: Delivery) -> None:
    """Read the database of the killed server: every acknowledged event must be there."""
    with delivery.lock:
        acked = set(delivery.acked)
    lost = delivery.acked_ids(acked) - set(stored_message_ids(engine))
    assert not lost, f"{len(lost)} acknowledged events lost in the crash, e.g. {min(lost)}"


def test_sigkill_mid_stream_loses_nothing_acknowledged_and_doubles_nothing(
    server: LiveServer,
) -> None:
    delivery = Delivery(make_batches(f"crash-{server.port}"))
    all_ids = delivery.acked_ids(set(range(len(delivery.batches))))
    assert len(all_ids) == EVENTS
    engine = server.engine()
    try:
        threads = send_all(server, delivery, time.monotonic() + DELIVERY_TIMEOUT)

        # Crash 1: in the middle of the stream, with requests in flight.
        assert delivery.first_ack.wait(15), server.log_tail()
        kill_at = time.monotonic() + KILL_NOT_LATER_THAN
        while len(delivery.acked) < KILL_AFTER_BATCHES and time.monotonic() < kill_at:
            time.sleep(0.005)
        server.kill()
        acked = len(delivery.acked)
        assert 0 < acked < len(delivery.batches), "the kill missed the stream"
        # Acknowledged means durable: those events survived SIGKILL, before any restart.
        assert_acknowledged_are_stored(engine, delivery)

        # Crash 2: while the pipeline is half-way through the backlog (and clients retry).
        server.restart()
        assert kill_while_processing(server, engine), "the pipeline was never caught mid-way"
        assert_acknowledged_are_stored(engine, delivery)
        server.restart()

        for thread in threads:
            thread.join(DELIVERY_TIMEOUT + 5)
        assert not any(t.is_alive() for t in threads)
        assert delivery.refused == []
        assert delivery.acked == set(range(len(delivery.batches))), "batches never acknowledged"
        assert delivery.failed_attempts > 0, "no request failed: the crash tested nothing"

        wait_until_processed(engine, EVENTS)
        server.stop()
        assert "Traceback" not in server.log_tail(200), server.log_tail(200)

        with engine.connect() as conn:
            duplicates = conn.execute(
                text(
                    "SELECT source_id, message_id, count(*) FROM events "
                    "GROUP BY source_id, message_id HAVING count(*) > 1"
                )
            ).all()
            counted = conn.scalar(
                text("SELECT coalesce(sum(event_count), 0) FROM customer_profiles")
            )
            on_timelines = conn.scalar(text("SELECT count(*) FROM customer_timeline"))
            distinct_on_timelines = conn.scalar(
                text("SELECT count(DISTINCT event_seq) FROM customer_timeline")
            )
            profiles = conn.scalar(text("SELECT count(*) FROM customer_profiles"))
            dead = conn.scalar(text("SELECT count(*) FROM dead_letters"))
        ids = stored_message_ids(engine)
    finally:
        delivery.give_up.set()
        engine.dispose()

    assert duplicates == []
    assert len(ids) == EVENTS
    assert set(ids) == all_ids
    assert dead == 0
    assert counted == EVENTS
    assert on_timelines == distinct_on_timelines == EVENTS
    assert profiles == USERS
