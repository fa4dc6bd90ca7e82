"""The outbox: written in the caller's transaction, delivered after commit by the dispatcher,
retried with backoff, dead after too many attempts, and delivered once by competing
dispatchers. Webhooks go to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from omnicx.core import outbox
from omnicx.core.database import Database
from omnicx.core.outbox import Dispatcher, OutboxMessage, enqueue
from omnicx.core.time import as_utc, utcnow

SECRET = "s3cret"


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint that answers 500 to the first ``failures`` requests, then 200."""

    failures: int = 0
    delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(self, delivery: Delivery) -> int:
        with self.lock:
            self.deliveries.append(delivery)
            failing = len(self.deliveries) <= self.failures
        time.sleep(self.delay)
        return 500 if failing else 200

    def delivery_ids(self) -> Counter[str]:
        with self.lock:
            return Counter(d.headers["x-omnicx-delivery"] for d in self.deliveries)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start receivers on free ports; stop them after the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(receiver: Receiver) -> Receiver:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.answer(Delivery(headers, body))
                reply = b"ok" if status == 200 else b"receiver is down"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/omnicx"
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def webhook(receiver: Receiver, body: dict[str, Any]) -> dict[str, Any]:
    return {"url": receiver.url, "secret": SECRET, "body": body}


def enqueue_committed(db: Database, payload: dict[str, Any], kind: str = "webhook") -> int:
    with db.write() as session:
        message = enqueue(session, kind, payload)
        session.flush()
        return message.id


def row(db: Database, message_id: int) -> dict[str, Any]:
    with db.read() as session:
        found = session.execute(
            select(
                OutboxMessage.status,
                OutboxMessage.attempts,
                OutboxMessage.last_error,
                OutboxMessage.delivered_at,
                OutboxMessage.next_attempt_at,
            ).where(OutboxMessage.id == message_id)
        ).one()
        return dict(found._mapping)


def make_due(db: Database, message_id: int) -> None:
    """Advance time for one message: its next attempt is due now."""
    with db.write() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def expected_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_webhook_is_retried_until_delivered_signed_with_one_delivery_id(db, serve, monkeypatch):
    receiver = serve(Receiver(failures=2))
    monkeypatch.setattr(outbox, "backoff", lambda attempts: timedelta(0))
    body = {"event": "ticket.created", "ticket": {"id": 7, "subject": "退款申请"}}
    message_id = enqueue_committed(db, webhook(receiver, body))
    dispatcher = Dispatcher(db, max_attempts=5)

    for _ in range(10):
        dispatcher.dispatch_once()
        if row(db, message_id)["status"] != "pending":
            break

    state = row(db, message_id)
    assert state["status"] == "sent"
    assert state["attempts"] == 3
    assert state["last_error"] is None
    assert state["delivered_at"] is not None
    assert len(receiver.deliveries) == 3
    assert receiver.delivery_ids() == Counter({str(message_id): 3})
    for delivery in receiver.deliveries:
        assert delivery.headers["content-type"] == "application/json"
        assert json.loads(delivery.body) == body
        assert hmac.compare_digest(
            delivery.headers["x-omnicx-signature"], expected_signature(delivery.body)
        )
    # Delivered means done: nothing more is sent.
    assert dispatcher.dispatch_once() == 0
    assert len(receiver.deliveries) == 3


def test_a_receiver_that_keeps_failing_gets_the_message_marked_dead(db, serve):
    receiver = serve(Receiver(failures=10**6))
    message_id = enqueue_committed(db, webhook(receiver, {"event": "order.paid"}))
    dispatcher = Dispatcher(db, max_attempts=4)

    for attempt in range(1, 5):
        assert dispatcher.dispatch_once() == 1
        checked_at = utcnow()
        state = row(db, message_id)
        assert state["attempts"] == attempt
        assert "HTTP 500" in state["last_error"]
        if attempt < 4:
            assert state["status"] == "pending"
            # Exponential backoff with jitter: between half and all of 2, 4, 8 s.
            ceiling = outbox.BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
            wait = (as_utc(state["next_attempt_at"]) - checked_at).total_seconds()
            assert ceiling / 2 - 1 <= wait <= ceiling
            assert dispatcher.dispatch_once() == 0  # not due yet: nothing is sent
            make_due(db, message_id)

    state = row(db, message_id)
    assert state["status"] == "dead"
    assert state["attempts"] == 4
    assert state["last_error"].startswith("HTTP 500")
    assert "receiver is down" in state["last_error"]
    assert state["delivered_at"] is None
    make_due(db, message_id)
    assert dispatcher.dispatch_once() == 0  # dead stays dead
    assert len(receiver.deliveries) == 4


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_receiver_and_an_unknown_kind_are_errors_not_crashes(db):
    url = f"http://127.0.0.1:{closed_port()}/never"
    unreachable = enqueue_committed(db, {"url": url, "secret": SECRET, "body": {}})
    unknown = enqueue_committed(db, {"anything": True}, kind="carrier-pigeon")
    dispatcher = Dispatcher(db, max_attempts=1)
    assert dispatcher.dispatch_once() == 2
    assert row(db, unreachable)["status"] == "dead"
    assert "ConnectError" in row(db, unreachable)["last_error"]
    assert row(db, unknown)["status"] == "dead"
    assert "no deliverer for kind 'carrier-pigeon'" in row(db, unknown)["last_error"]


def test_an_enqueue_in_a_rolled_back_transaction_is_never_delivered(db, serve):
    receiver = serve(Receiver())

    class Abort(Exception):
        pass

    with pytest.raises(Abort), db.write() as session:
        enqueue(session, "webhook", webhook(receiver, {"event": "never"}))
        session.flush()  # the row exists inside the transaction...
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        raise Abort
    committed = enqueue_committed(db, webhook(receiver, {"event": "kept"}))

    dispatcher = Dispatcher(db)
    assert dispatcher.dispatch_once() == 1
    assert dispatcher.dispatch_once() == 0
    assert [json.loads(d.body) for d in receiver.deliveries] == [{"event": "kept"}]
    assert receiver.delivery_ids() == Counter({str(committed): 1})
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_two_dispatchers_claiming_at_once_deliver_each_message_once(settings, serve):
    receiver = serve(Receiver(delay=0.01))
    url = settings.resolved_database_url
    first, second = Database(url), Database(url)  # two processes' worth of connections
    try:
        ids = []
        with first.write() as session:
            for n in range(40):
                ids.append(enqueue(session, "webhook", webhook(receiver, {"n": n})))
            session.flush()
            ids = [m.id for m in ids]

        attempted: dict[str, int] = {}
        start = threading.Barrier(2)

        def run(name: str, database: Database) -> None:
            dispatcher = Dispatcher(database)
            start.wait()
            total = 0
            while (n := dispatcher.dispatch_once(limit=5)) > 0:
                total += n
            attempted[name] = total

        threads = [
            threading.Thread(target=run, args=("first", first)),
            threading.Thread(target=run, args=("second", second)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert receiver.delivery_ids() == Counter({str(i): 1 for i in ids})
        assert attempted["first"] + attempted["second"] == 40
        assert attempted["first"] > 0 and attempted["second"] > 0  # they really competed
        with first.read() as session:
            statuses = Counter(session.scalars(select(OutboxMessage.status)))
            attempts = set(session.scalars(select(OutboxMessage.attempts)))
        assert statuses == Counter({"sent": 40})
        assert attempts == {1}
    finally:
        first.dispose()
        second.dispose()


# -- messages to people: encrypted payloads, and the gate at send time ------------------------


def test_the_payload_is_encrypted_at_rest_and_delivered_in_clear(db, serve):
    receiver = serve(Receiver())
    body = {"to": "13800138000", "text": "您的订单已发货"}
    message_id = enqueue_committed(db, webhook(receiver, body))
    with db.read() as session:
        stored = session.execute(
            text("SELECT payload FROM outbox WHERE id = :id"), {"id": message_id}
        ).scalar_one()
    assert "13800138000" not in stored and "订单" not in stored
    assert stored.startswith("v1.")
    Dispatcher(db).dispatch_once()
    assert [json.loads(d.body) for d in receiver.deliveries] == [body]


def test_a_message_to_a_customer_must_say_why(db):
    with db.write() as session, pytest.raises(ValueError, match="needs a purpose"):
        enqueue(session, "webhook", {"url": "http://127.0.0.1:1/"}, customer_id=7)


def addressed(db: Database, receiver: Receiver, purpose: str, customer_id: int = 7) -> int:
    with db.write() as session:
        message = enqueue(
            session,
            "webhook",
            webhook(receiver, {"purpose": purpose}),
            customer_id=customer_id,
            purpose=purpose,
            channel="sms",
        )
        session.flush()
        return message.id


def test_the_gate_decides_at_send_time_and_a_refusal_is_final(db, serve):
    """The gate sees the message just before delivery; what it refuses is never sent or
    retried, and what it allows goes out. Plain webhooks do not ask it."""
    receiver = serve(Receiver())
    blocked: set[str] = set()
    asked: list[int] = []

    def gate(session, message):
        asked.append(message.id)
        return "purpose blocked" if message.purpose in blocked else None

    marketing = addressed(db, receiver, "marketing")
    service = addressed(db, receiver, "service")
    plain = enqueue_committed(db, webhook(receiver, {"plain": True}))
    blocked.add("marketing")  # decided after enqueue: the gate must still refuse it
    dispatcher = Dispatcher(db, gate=gate)
    assert dispatcher.dispatch_once() == 3

    assert sorted(asked) == sorted([marketing, service])
    assert row(db, marketing)["status"] == "refused"
    assert row(db, marketing)["last_error"] == "purpose blocked"
    assert row(db, marketing)["attempts"] == 0
    assert row(db, service)["status"] == "sent"
    assert row(db, plain)["status"] == "sent"
    assert sorted(json.loads(d.body).get("purpose", "-") for d in receiver.deliveries) == [
        "-",
        "service",
    ]
    make_due(db, marketing)
    assert dispatcher.dispatch_once() == 0  # refused stays refused


def test_a_failing_gate_sends_nothing_and_retries_later(db, serve):
    receiver = serve(Receiver())
    message_id = addressed(db, receiver, "marketing")

    def broken(session, message):
        raise RuntimeError("consent store unreachable")

    Dispatcher(db, gate=broken, max_attempts=3).dispatch_once()
    state = row(db, message_id)
    assert state["status"] == "pending"
    assert state["attempts"] == 1
    assert "consent store unreachable" in state["last_error"]
    assert receiver.deliveries == []
