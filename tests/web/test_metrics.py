"""GET /metrics: real requests, a processed batch, dead letters and outbox rows, read
back through Prometheus' own parser, on SQLite and PostgreSQL.

Counters of the process (HTTP, ingest) are shared by every test in this process, so the
tests compare two scrapes; gauges read from the database are absolute.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text, update

from omnicx.core.database import Database
from omnicx.core.eventlog.models import DeadLetter, EventRow, ProcessorOffset
from omnicx.core.metrics import exposition
from omnicx.core.outbox import DeliveryFailed, Dispatcher, OutboxMessage, enqueue
from omnicx.core.processing.transport import JetStreamTransport
from omnicx.core.settings import get_settings, reset_settings
from omnicx.core.time import utcnow
from omnicx.governance.service import create_token
from omnicx.web.app import create_app
from tests.factories import append_calls, call, make_source, make_token, process
from tests.live_server import OMNICX, live_server_on

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(body: str) -> Samples:
    """Every sample of a scrape: (name, labels) → value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def scraper_token(db) -> str:
    """What docs/operations.md tells operators to create: an admin token scoped to metrics."""
    with db.write() as session:
        return create_token(session, "prometheus", "admin", scopes=["metrics:read"])


def scrape(client, token: str) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


def test_requests_and_events_are_counted_by_route_template_and_source(client, db, scraper_token):
    source_id, write_key = make_source(db)
    other_id, other_key = make_source(db)
    agent = {"Authorization": f"Bearer {make_token(db, 'agent')}"}
    before = scrape(client, scraper_token)

    batch = [
        call("identify", 0, userId="crm-1", traits={"name": "王芳", "email": "wang@example.cn"}),
        call("track", 1, userId="crm-1", event="Order Completed"),
        call("track", 2, userId="crm-1", event=""),
        {"type": "teleport", "userId": "crm-1"},
    ]
    partly = client.post("/v1/batch", json={"batch": batch}, auth=(write_key, ""))
    assert partly.status_code == 207, partly.text
    batch_codes = [r["code"] for r in partly.json()["rejected"]]
    assert len(batch_codes) == 2
    assert (
        client.post("/v1/track", json=call(userId="u-2"), auth=(other_key, "")).status_code == 200
    )
    refused = client.post("/v1/track", json={"userId": "u-3"}, auth=(other_key, ""))
    assert refused.status_code == 400
    for customer_id in (8, 9):  # two ids, one route
        assert client.get(f"/api/v1/customers/{customer_id}", headers=agent).status_code == 404
    assert client.get("/no/such/page/12345").status_code == 404
    assert client.request("BREW", "/healthz").status_code == 405
    preflight = client.options(
        "/v1/batch",
        headers={"Origin": "https://shop.example.cn", "Access-Control-Request-Method": "POST"},
    )

    after = scrape(client, scraper_token)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    accepted = "omnicx_ingest_events_accepted_total"
    rejected = "omnicx_ingest_events_rejected_total"
    assert delta(accepted, source=str(source_id)) == 2
    assert delta(accepted, source=str(other_id)) == 1
    for code in set(batch_codes):
        assert delta(rejected, source=str(source_id), code=code) == batch_codes.count(code)
    refused_code = refused.json()["error"]["code"]
    assert delta(rejected, source=str(other_id), code=refused_code) == 1

    requests = "omnicx_http_requests_total"
    assert delta(requests, method="POST", route="/v1/batch", status="207") == 1
    assert delta(requests, method="POST", route="/v1/track", status="400") == 1
    route = "/api/v1/customers/{customer_id}"
    assert delta(requests, method="GET", route=route, status="404") == 2
    assert delta(requests, method="GET", route="unmatched", status="404") == 1
    assert delta(requests, method="OTHER", route="/healthz", status="405") == 1
    # A CORS preflight is answered before routing, yet counted under its tracking path.
    preflight_labels = {"method": "OPTIONS", "route": "/v1/batch"}
    assert delta(requests, **preflight_labels, status=str(preflight.status_code)) == 1
    # The histogram saw both customer reads; no label anywhere holds a raw id or path.
    duration = "omnicx_http_request_duration_seconds"
    assert delta(f"{duration}_count", method="GET", route=route) == 2
    assert delta(f"{duration}_bucket", method="GET", route=route, le="+Inf") == 2
    assert delta(f"{duration}_sum", method="GET", route=route) > 0
    label_values = {v for _, labels in after for _, v in labels}
    assert not {"/api/v1/customers/8", "/no/such/page/12345", "BREW"} & label_values


def test_processor_lag_dead_letters_and_outbox_come_from_the_database(client, db, scraper_token):
    source_id, write_key = make_source(db)
    first = [call("identify", i, userId=f"crm-{i}", traits={"name": "李娜"}) for i in range(3)]
    assert client.post("/v1/batch", json={"batch": first}, auth=(write_key, "")).status_code == 200
    assert process(db) == 3
    with db.read() as session:
        head = session.scalar(select(EventRow.seq).order_by(EventRow.seq.desc()).limit(1))
    caught_up = scrape(client, scraper_token)
    for processor in ("customers", "consent"):
        assert value(caught_up, "omnicx_processor_position", processor=processor) == head
        assert value(caught_up, "omnicx_processor_lag_events", processor=processor) == 0
        assert value(caught_up, "omnicx_processor_lag_seconds", processor=processor) == 0
        assert value(caught_up, "omnicx_dead_letters_open", processor=processor) == 0
        committed = value(
            caught_up, "omnicx_processor_last_commit_timestamp_seconds", processor=processor
        )
        assert abs(committed - time.time()) < 60
    assert value(caught_up, "omnicx_events_head_seq") == head

    # Two more events arrive; the pipeline has not run. The older one waited 2 minutes.
    later = append_calls(db, source_id, [call(userId="crm-0"), call(userId="crm-1")])
    with db.write() as session:
        for event, age in zip(later, (120, 10), strict=True):
            session.execute(
                update(EventRow)
                .where(EventRow.source_id == source_id, EventRow.message_id == event.message_id)
                .values(received_at=utcnow() - timedelta(seconds=age))
            )
    behind = scrape(client, scraper_token)
    assert value(behind, "omnicx_events_head_seq") == head + 2
    for processor in ("customers", "consent"):
        assert value(behind, "omnicx_processor_position", processor=processor) == head
        assert value(behind, "omnicx_processor_lag_events", processor=processor) == 2
        assert 119 <= value(behind, "omnicx_processor_lag_seconds", processor=processor) < 180

    # A row another group will add is reported as it is, whatever its name.
    with db.write() as session:
        session.add(ProcessorOffset(processor="analytics", position=1, updated_at=utcnow()))
        for status in ("open", "open", "resolved"):
            session.add(
                DeadLetter(
                    processor="customers",
                    event_seq=1,
                    reason="ValueError: 测试",
                    attempts=1,
                    status=status,
                    created_at=utcnow(),
                )
            )
    assert process(db) == 2
    done = scrape(client, scraper_token)
    assert value(done, "omnicx_processor_lag_events", processor="customers") == 0
    assert value(done, "omnicx_processor_lag_seconds", processor="customers") == 0
    assert value(done, "omnicx_processor_lag_events", processor="analytics") == head + 1
    assert value(done, "omnicx_processor_lag_seconds", processor="analytics") > 0
    assert value(done, "omnicx_dead_letters_open", processor="customers") == 2
    assert value(done, "omnicx_dead_letters_open", processor="analytics") == 0
    assert value(done, "omnicx_database_up") == 1


def test_outbox_backlog_and_delivery_outcomes(client, db, scraper_token):
    def fail(message, payload):
        raise DeliveryFailed("HTTP 500: 服务器错误")

    with db.write() as session:
        enqueue(session, "ok", {"n": 1})
        enqueue(session, "fails", {"n": 2})
        waiting = enqueue(session, "ok", {"n": 3})
        session.flush()
        waiting.created_at = utcnow() - timedelta(minutes=5)
        waiting.next_attempt_at = utcnow() + timedelta(hours=1)  # a retry, later
    queued = scrape(client, scraper_token)
    assert value(queued, "omnicx_outbox_messages", status="pending") == 3
    assert value(queued, "omnicx_outbox_due_messages") == 2
    assert 299 <= value(queued, "omnicx_outbox_oldest_pending_age_seconds") < 360
    for status in ("sent", "dead", "refused"):
        assert value(queued, "omnicx_outbox_messages", status=status) == 0
    assert ("omnicx_outbox_messages", frozenset({("status", "dead")})) in queued

    dispatcher = Dispatcher(db, max_attempts=1, deliverers={"ok": lambda m, p: None, "fails": fail})
    assert dispatcher.dispatch_once() == 2
    delivered = scrape(client, scraper_token)
    assert value(delivered, "omnicx_outbox_messages", status="sent") == 1
    assert value(delivered, "omnicx_outbox_messages", status="dead") == 1
    assert value(delivered, "omnicx_outbox_messages", status="pending") == 1
    assert value(delivered, "omnicx_outbox_due_messages") == 0
    assert 299 <= value(delivered, "omnicx_outbox_oldest_pending_age_seconds") < 360

    with db.write() as session:
        session.execute(update(OutboxMessage).values(status="sent"))
    empty = scrape(client, scraper_token)
    assert value(empty, "omnicx_outbox_oldest_pending_age_seconds") == 0
    assert value(empty, "omnicx_outbox_messages", status="pending") == 0


def test_a_scrape_waits_for_no_writer(client, db, scraper_token):
    """A writer holds SQLite's write lock (PostgreSQL: EXCLUSIVE locks on the tables the
    collector reads, which admit plain reads only) while Prometheus scrapes: the scrape
    answers at once."""
    source_id, _ = make_source(db)
    append_calls(db, source_id, [call(userId="crm-9")])
    assert process(db) == 1  # the processor rows exist
    with db.write() as session:
        session.execute(update(ProcessorOffset).values(updated_at=utcnow()))
        if not db.sqlite:
            session.execute(
                text("LOCK TABLE events, processor_offsets, dead_letters, outbox IN EXCLUSIVE MODE")
            )
        started = time.monotonic()
        samples = scrape(client, scraper_token)
        assert time.monotonic() - started < 2
    assert value(samples, "omnicx_database_up") == 1
    assert ("omnicx_processor_position", frozenset({("processor", "customers")})) in samples


def test_unauthorised_scrapes_are_refused(client, db):
    _, write_key = make_source(db)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", auth=(write_key, "")).status_code == 401
    for role in ("supervisor", "agent", "analyst"):
        refused = client.get(
            "/metrics", headers={"Authorization": f"Bearer {make_token(db, role)}"}
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    with db.write() as session:
        reader = create_token(session, "reader", "admin", scopes=["customers:read"])
    response = client.get("/metrics", headers={"Authorization": f"Bearer {reader}"})
    assert response.status_code == 403
    assert "omnicx_" not in response.text


def test_a_scrape_answers_when_the_database_cannot_be_read(tmp_path):
    """An empty file (no tables): the database part is reported down, the rest served."""
    database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        samples = parse(exposition(database).decode())
    finally:
        database.dispose()
    assert value(samples, "omnicx_database_up") == 0
    assert value(samples, "process_cpu_seconds_total") > 0
    assert not any(name == "omnicx_processor_position" for name, _ in samples)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape_port(port: int) -> Samples:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return parse(response.text)


def _until(check, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
            if result:
                return result
        except (httpx.TransportError, AssertionError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", ["sqlite", "postgres"])
def test_metrics_port_of_serve_and_of_a_worker(backend_name, tmp_path):
    """`omnicx serve` with OMNICX_METRICS_PORT and a separate `omnicx worker --metrics-port`
    both answer on 127.0.0.1 without a token; the pipeline's state is the same in both."""
    serve_port, worker_port = _free_port(), _free_port()
    settings = {"OMNICX_METRICS_PORT": str(serve_port)}
    with live_server_on(backend_name, tmp_path, settings) as live:
        calls = [call("identify", i, userId=f"crm-{i}", traits={"name": "赵敏"}) for i in range(5)]
        sent = httpx.post(f"{live.url}/v1/batch", json={"batch": calls}, auth=(live.write_key, ""))
        assert sent.status_code == 200

        def caught_up() -> Samples | None:
            samples = _scrape_port(serve_port)
            position = value(samples, "omnicx_processor_position", processor="customers")
            return samples if position == 5 else None

        served = _until(caught_up)
        assert value(served, "omnicx_processor_lag_events", processor="customers") == 0
        assert value(served, "omnicx_database_up") == 1
        batch = {"method": "POST", "route": "/v1/batch", "status": "200"}
        assert value(served, "omnicx_http_requests_total", **batch) == 1
        assert value(served, "omnicx_ingest_events_accepted_total", source="1") == 5
        # Only on loopback; the token route on the API port still wants a token.
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.2", serve_port)) != 0
        assert httpx.get(f"{live.url}/metrics").status_code == 401

        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [*OMNICX, "worker", "--metrics-port", str(worker_port)],
                env=live.env,
                cwd=live.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            scraped = _until(lambda: _scrape_port(worker_port))
        finally:
            worker.terminate()
            worker.wait(15)
        assert value(scraped, "omnicx_processor_position", processor="customers") == 5
        assert value(scraped, "omnicx_dead_letters_open", processor="customers") == 0
        assert value(scraped, "process_cpu_seconds_total") > 0
        # The worker answers no HTTP: it counts none.
        assert value(scraped, "omnicx_http_requests_total", **batch) == 0


def _record_from_stream(db, nats_url: str, stream: str, rows: int) -> None:
    """Run a worker's JetStream transport until the events table holds ``rows`` rows (the
    processor groups do not run: what is recorded waits for them)."""

    async def run() -> None:
        stop = asyncio.Event()
        transport = JetStreamTransport(db, nats_url, stream)
        task = asyncio.create_task(transport.run(stop))
        deadline = time.monotonic() + 20
        try:
            while await asyncio.to_thread(_event_rows, db) < rows:
                assert not task.done(), "the transport stopped"
                assert time.monotonic() < deadline, "the events never reached the table"
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(run())


def _event_rows(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(EventRow)) or 0


@pytest.mark.nats
def test_jetstream_mode_reports_the_same_lag(settings, db, nats_url, stream, monkeypatch):
    """With the JetStream log the API publishes, a worker records into the table and the
    groups follow it: the scrape reads the same rows as in the embedded default."""
    monkeypatch.setenv("OMNICX_EVENT_LOG", nats_url)
    monkeypatch.setenv("OMNICX_NATS_STREAM", stream)
    reset_settings()
    configured = get_settings()
    assert configured.uses_nats
    source_id, write_key = make_source(db)
    with db.write() as session:
        token = create_token(session, "prometheus", "admin", scopes=["metrics:read"])
    with TestClient(create_app(configured, background=False)) as client:
        before = scrape(client, token)
        first = [call("identify", 0, userId="crm-21", traits={"name": "孙丽"})]
        assert (
            client.post("/v1/batch", json={"batch": first}, auth=(write_key, "")).status_code == 200
        )
        _record_from_stream(db, nats_url, stream, 1)
        assert process(db) == 1
        later = [call(userId="crm-21"), call(userId="crm-22"), call(userId="crm-23")]
        assert (
            client.post("/v1/batch", json={"batch": later}, auth=(write_key, "")).status_code == 200
        )
        _record_from_stream(db, nats_url, stream, 4)
        behind = scrape(client, token)
        assert process(db) == 3
        done = scrape(client, token)
    accepted = "omnicx_ingest_events_accepted_total"
    assert (
        value(behind, accepted, source=str(source_id))
        - value(before, accepted, source=str(source_id))
        == 4
    )
    for processor in ("customers", "consent"):
        assert value(behind, "omnicx_processor_lag_events", processor=processor) == 3
        assert value(behind, "omnicx_processor_lag_seconds", processor=processor) > 0
        assert value(done, "omnicx_processor_lag_events", processor=processor) == 0
        assert value(done, "omnicx_processor_position", processor=processor) == 4


def test_scheduler_backlog_and_lateness(client, db, scraper_token):
    from omnicx.core import scheduler

    with db.write() as session:
        scheduler.schedule(session, "test.late", "test.late:1", utcnow() - timedelta(seconds=90))
        scheduler.schedule(session, "test.later", "test.later:1", utcnow() + timedelta(hours=1))
    samples = scrape(client, scraper_token)
    assert value(samples, "omnicx_scheduler_jobs", status="pending") == 2
    assert value(samples, "omnicx_scheduler_due_jobs") == 1
    assert 90 <= value(samples, "omnicx_scheduler_oldest_due_lateness_seconds") < 150
