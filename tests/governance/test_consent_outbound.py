"""Consent enforced on every outbound send: the real dispatcher with the runtime's gate,
webhooks delivered over HTTP to a local receiver."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from omnicx.core.database import Database
from omnicx.core.outbox import OutboxMessage, enqueue
from omnicx.governance import audit
from omnicx.governance.suppression import suppress
from omnicx.identity.models import Customer
from omnicx.identity.service import find_customer_by_identifier, identifier_hash
from omnicx.runtime.outbound import make_dispatcher
from tests.core import test_outbox
from tests.core.test_outbox import Receiver
from tests.factories import append_calls, call, make_source, make_token, process

# Starts local webhook receivers (the outbox tests' fixture).
receivers = test_outbox.serve


def customer(db: Database, user_id: str, phone: str) -> int:
    source_id, _ = make_source(db)
    append_calls(db, source_id, [call("identify", userId=user_id, traits={"phone": phone})])
    process(db)
    with db.read() as session:
        return find_customer_by_identifier(session, "user_id", user_id)


def send(db: Database, receiver: Receiver, customer_id: int, purpose: str, channel="sms") -> int:
    """Queue a message to the customer (committed); returns its id."""
    with db.write() as session:
        message = enqueue(
            session,
            "webhook",
            {"url": receiver.url, "body": {"purpose": purpose, "text": "您好"}},
            customer_id=customer_id,
            purpose=purpose,
            channel=channel,
        )
        session.flush()
        return message.id


def outcome(db: Database, message_id: int) -> tuple[str, str | None]:
    with db.read() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        return row.status, row.last_error


def delivered(receiver: Receiver) -> list[str]:
    return [json.loads(d.body)["purpose"] for d in receiver.deliveries]


def grant(client, db, customer_id: int, purpose: str, channel: str, granted: bool) -> None:
    response = client.post(
        f"/api/v1/customers/{customer_id}/consent",
        headers={"Authorization": f"Bearer {make_token(db, 'agent')}"},
        json={"purpose": purpose, "channel": channel, "granted": granted},
    )
    assert response.status_code == 201, response.text


def test_marketing_without_consent_is_refused_and_audited_a_service_reply_is_sent(
    db, settings, receivers
):
    receiver = receivers(Receiver())
    person = customer(db, "u-out-1", "13800138000")
    marketing = send(db, receiver, person, "marketing")
    reply = send(db, receiver, person, "service")

    assert make_dispatcher(db, settings).dispatch_once() == 2

    status, reason = outcome(db, marketing)
    assert status == "refused"
    assert reason == "no marketing consent on sms (never given; marketing is opt-in)"
    assert outcome(db, reply) == ("sent", None)
    assert delivered(receiver) == ["service"]
    with db.read() as session:
        entries = audit.search(session, audit.AuditFilter(action="outbox.refused"))
        assert audit.verify(session).ok
        refusals = [(e.actor, e.target_type, e.target_id, audit.detail_of(e)) for e in entries]
    assert [r[:3] for r in refusals] == [("system", "outbox", str(marketing))]
    assert refusals[0][3] == {
        "customer_id": person,
        "kind": "webhook",
        "purpose": "marketing",
        "channel": "sms",
        "reason": reason,
    }


def test_marketing_after_consent_is_granted_through_the_api_is_sent(
    client, db, settings, receivers
):
    receiver = receivers(Receiver())
    person = customer(db, "u-out-2", "13800138001")
    grant(client, db, person, "marketing", "sms", True)
    on_sms = send(db, receiver, person, "marketing", channel="sms")
    by_email = send(db, receiver, person, "marketing", channel="email")

    make_dispatcher(db, settings).dispatch_once()

    assert outcome(db, on_sms) == ("sent", None)
    assert outcome(db, by_email)[0] == "refused"  # granted on sms only
    assert delivered(receiver) == ["marketing"]


def test_consent_withdrawn_after_enqueue_is_honoured_at_send_time(client, db, settings, receivers):
    receiver = receivers(Receiver())
    person = customer(db, "u-out-3", "13800138002")
    grant(client, db, person, "marketing", "*", True)
    message = send(db, receiver, person, "marketing")
    grant(client, db, person, "marketing", "sms", False)  # the customer changed their mind

    make_dispatcher(db, settings).dispatch_once()

    status, reason = outcome(db, message)
    assert status == "refused"
    assert reason is not None and reason.startswith("marketing consent on sms withdrawn (api, ")
    assert receiver.deliveries == []


def test_suppressed_recipients_get_nothing_or_no_marketing(client, db, settings, receivers):
    receiver = receivers(Receiver())
    forgotten = customer(db, "u-out-4", "13800138003")
    unsubscribed = customer(db, "u-out-5", "13800138004")
    grant(client, db, unsubscribed, "marketing", "*", True)
    with db.write() as session:
        for phone, scope in (("13800138003", "all"), ("13800138004", "marketing")):
            kind, _, key = identifier_hash("phone", phone)
            suppress(session, key, kind, scope, "request", "test")
    reply_to_forgotten = send(db, receiver, forgotten, "service")
    reply = send(db, receiver, unsubscribed, "service")
    offer = send(db, receiver, unsubscribed, "marketing")

    make_dispatcher(db, settings).dispatch_once()

    assert outcome(db, reply_to_forgotten) == (
        "refused",
        "the recipient is suppressed for all contact",
    )
    assert outcome(db, reply) == ("sent", None)
    # Suppression wins over a consent the customer gave earlier.
    assert outcome(db, offer) == ("refused", "the recipient is suppressed for marketing")
    assert delivered(receiver) == ["service"]


def test_erased_and_unknown_customers_get_nothing_plain_webhooks_pass(db, settings, receivers):
    receiver = receivers(Receiver())
    erased = customer(db, "u-out-6", "13800138005")
    with db.write() as session:
        session.execute(
            update(Customer).where(Customer.id == erased).values(erased_at=Customer.created_at)
        )
    reply = send(db, receiver, erased, "service")
    nobody = send(db, receiver, 987654, "service")
    with db.write() as session:
        plain = enqueue(session, "webhook", {"url": receiver.url, "body": {"purpose": "-"}})
        session.flush()
        plain_id = plain.id

    make_dispatcher(db, settings).dispatch_once()

    assert outcome(db, reply) == ("refused", f"customer {erased} was erased")
    assert outcome(db, nobody) == ("refused", "customer 987654 does not exist")
    assert outcome(db, plain_id) == ("sent", None)
    assert delivered(receiver) == ["-"]
    with db.read() as session:
        refused = list(
            session.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "refused"))
        )
    assert sorted(refused) == sorted([reply, nobody])
