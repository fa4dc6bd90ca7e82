"""Consent: the precedence and default rules, and the API to read and record it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from omnicx.core.settings import reset_settings
from omnicx.customers.consent import consent_subject
from omnicx.governance import audit
from omnicx.governance.consent import consent_status, record_decision
from omnicx.governance.models import Consent
from omnicx.identity.service import find_customer_by_identifier
from tests.factories import (
    BASE_TIME,
    append_calls,
    call,
    make_source,
    make_token,
    process,
    token_actor,
)


def person(db, source_id: int, user_id: str, minutes: int = 0, **traits) -> int:
    """A customer made from one identify call; returns its id."""
    append_calls(db, source_id, [call("identify", minutes, userId=user_id, traits=traits)])
    process(db)
    with db.read() as session:
        return find_customer_by_identifier(session, "user_id", user_id)


def states(db, customer_id: int, purpose: str) -> dict[str, bool]:
    with db.read() as session:
        subject = consent_subject(session, customer_id)
        return {
            channel: consent_status(session, subject, purpose, channel).granted
            for channel in ("*", "email", "sms")
        }


def decide(db, customer_id, purpose, channel, granted, minutes, source="api"):
    with db.write() as session:
        record_decision(
            session,
            customer_id,
            purpose,
            channel,
            granted,
            source=source,
            occurred_at=BASE_TIME + timedelta(minutes=minutes),
        )


def test_defaults_service_allowed_marketing_opt_in_analytics_configurable(db, monkeypatch):
    source_id, _ = make_source(db)
    customer = person(db, source_id, "u-defaults")
    assert states(db, customer, "service") == {"*": True, "email": True, "sms": True}
    assert states(db, customer, "marketing") == {"*": False, "email": False, "sms": False}
    assert states(db, customer, "analytics") == {"*": True, "email": True, "sms": True}
    monkeypatch.setenv("OMNICX_CONSENT_ANALYTICS_DEFAULT", "false")
    reset_settings()
    assert states(db, customer, "analytics") == {"*": False, "email": False, "sms": False}


def test_the_latest_covering_decision_wins_and_a_channel_beats_every_channel_on_a_tie(db):
    source_id, _ = make_source(db)
    customer = person(db, source_id, "u-precedence")

    decide(db, customer, "marketing", "*", True, 10)
    decide(db, customer, "marketing", "email", False, 20)
    assert states(db, customer, "marketing") == {"*": True, "email": False, "sms": True}

    # "No marketing at all" withdraws the earlier channel grants too.
    decide(db, customer, "marketing", "*", False, 30)
    assert states(db, customer, "marketing") == {"*": False, "email": False, "sms": False}

    # A later e-mail opt-in grants e-mail only.
    decide(db, customer, "marketing", "email", True, 40)
    assert states(db, customer, "marketing") == {"*": False, "email": True, "sms": False}

    # Arrival order does not matter, the customer's time does: an old decision recorded
    # now changes nothing.
    decide(db, customer, "marketing", "sms", True, 5)
    assert states(db, customer, "marketing")["sms"] is False

    # At the same moment, the channel's own decision beats "*" whatever the insert order.
    decide(db, customer, "marketing", "sms", True, 50)
    decide(db, customer, "marketing", "*", False, 50)
    assert states(db, customer, "marketing") == {"*": False, "email": False, "sms": True}
    # Other purposes are untouched.
    assert states(db, customer, "service") == {"*": True, "email": True, "sms": True}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def consents(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Consent)) or 0


def test_api_reads_defaults_records_a_decision_and_audits_it(client, db):
    source_id, _ = make_source(db)
    customer = person(db, source_id, "u-api", email="li.na@example.com")
    agent = make_token(db, "agent")

    fresh = client.get(f"/api/v1/customers/{customer}/consent", headers=bearer(agent))
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert body["customer_id"] == customer and body["history"] == []
    assert body["defaults"] == {"service": True, "marketing": False, "analytics": True}
    assert body["state"]["marketing"]["email"] == {
        "granted": False,
        "by_default": True,
        "decision_id": None,
        "decided_at": None,
    }
    assert set(body["state"]["marketing"]) == {"*", "email", "sms", "wechat", "phone", "web", "app"}

    note = "told us on the phone: 李娜 wants offers by e-mail"
    posted = client.post(
        f"/api/v1/customers/{customer}/consent",
        headers=bearer(agent),
        json={"purpose": "marketing", "channel": "email", "granted": True, "note": note},
    )
    assert posted.status_code == 201, posted.text
    decision = posted.json()["decision"]
    assert decision["source"] == "api" and decision["actor"] == token_actor(db)
    assert decision["note"] == note and decision["customer_id"] == customer
    assert posted.json()["state"]["granted"] is True

    after = client.get(f"/api/v1/customers/{customer}/consent", headers=bearer(agent)).json()
    assert after["state"]["marketing"]["email"]["granted"] is True
    assert after["state"]["marketing"]["email"]["decision_id"] == decision["id"]
    assert after["state"]["marketing"]["sms"]["granted"] is False
    assert [h["id"] for h in after["history"]] == [decision["id"]]

    with db.read() as session:
        entries = audit.search(session, audit.AuditFilter(action="consent.change"))
        stored_note = session.execute(text("SELECT note FROM consents")).scalar_one()
        assert audit.verify(session).ok
        assert len(entries) == 1
        entry = entries[0]
        recorded = (entry.actor, entry.target_type, entry.target_id, entry.detail)
    actor, target_type, target_id, detail = recorded
    assert (actor, target_type, target_id) == (token_actor(db), "customer", str(customer))
    assert json.loads(detail) == {
        "purpose": "marketing",
        "channel": "email",
        "granted": True,
        "source": "api",
        "consent_id": decision["id"],
    }
    assert "李娜" not in detail
    # The note is free text about a person: encrypted at rest.
    assert "李娜" not in stored_note and stored_note.startswith("v1.")


def test_api_refuses_roles_without_the_permission_and_bad_input(client, db):
    source_id, _ = make_source(db)
    customer = person(db, source_id, "u-denied")
    analyst, agent = make_token(db, "analyst"), make_token(db, "agent")
    path = f"/api/v1/customers/{customer}/consent"
    change = {"purpose": "marketing", "channel": "sms", "granted": True}

    assert client.get(path, headers=bearer(analyst)).status_code == 403
    denied = client.post(path, headers=bearer(analyst), json=change)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert consents(db) == 0

    for bad, field in (
        ({**change, "purpose": "spam"}, "purpose"),
        ({**change, "channel": "fax"}, "channel"),
        ({**change, "note": "x" * 501}, "note"),
        ({"purpose": "marketing", "channel": "sms"}, "granted"),
    ):
        response = client.post(path, headers=bearer(agent), json=bad)
        assert response.status_code == 422, bad
        assert response.json()["error"]["field"] == field
    missing = client.post("/api/v1/customers/999999/consent", headers=bearer(agent), json=change)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert consents(db) == 0


@pytest.fixture
def merged(db):
    """Two customers that a later identify merges: (first id, second id, survivor id)."""
    source_id, _ = make_source(db)
    first = person(db, source_id, "u-merge-a", 0, email="merge@example.com")
    append_calls(
        db, source_id, [call("identify", 1, anonymousId="anon-b", traits={"phone": "13912340000"})]
    )
    process(db)
    with db.read() as session:
        second = find_customer_by_identifier(session, "anonymous_id", "anon-b")
    assert first != second
    return source_id, first, second


def test_consent_follows_a_merge(client, db, merged):
    source_id, first, second = merged
    agent = make_token(db, "agent")
    client.post(
        f"/api/v1/customers/{second}/consent",
        headers=bearer(agent),
        json={"purpose": "marketing", "channel": "sms", "granted": True},
    )
    # The phone's owner signs in with the account: one person now.
    append_calls(
        db,
        source_id,
        [
            call(
                "identify",
                2,
                userId="u-merge-a",
                anonymousId="anon-b",
                traits={"phone": "13912340000"},
            )
        ],
    )
    process(db)
    with db.read() as session:
        survivor = consent_subject(session, first).customer_id
        assert consent_subject(session, second).customer_id == survivor
        assert consent_subject(session, survivor).customer_ids == {first, second}

    for asked in (first, second):
        body = client.get(f"/api/v1/customers/{asked}/consent", headers=bearer(agent)).json()
        assert body["customer_id"] == survivor and body["requested_id"] == asked
        assert body["state"]["marketing"]["sms"]["granted"] is True
        assert body["state"]["marketing"]["email"]["granted"] is False
    # A decision taken on the merged person counts over both histories, latest first.
    client.post(
        f"/api/v1/customers/{first}/consent",
        headers=bearer(agent),
        json={"purpose": "marketing", "channel": "*", "granted": False},
    )
    assert states(db, second, "marketing") == {"*": False, "email": False, "sms": False}
