"""The access layer through the API: the 360 per role, reveal, orders and timeline limits,
the audit rows every read writes, and the review queue."""

from __future__ import annotations

from omnicx.governance.audit import AuditFilter, detail_of, search
from tests.factories import call, make_token
from tests.governance.masking_people import (
    EMAIL,
    ID_CARD,
    MASKED,
    PHONE,
    seed_person,
    token_for,
)
from tests.identity.graph_state import feed


def audit_rows(db, action):
    with db.read() as session:
        return [
            (e.actor_role, e.target_id, detail_of(e))
            for e in search(session, AuditFilter(action=action))
        ]


def test_an_agent_sees_the_seed_scenario(client, db):
    customer_id = seed_person(client, db, orders=5)
    body = client.get(f"/api/v1/customers/{customer_id}", headers=token_for(db, "agent")).json()
    assert body["traits"]["phone"] == "+86 " + MASKED["phone"]
    assert body["traits"]["email"] == MASKED["email"]
    assert body["traits"]["name"] == MASKED["name"]
    assert "id_card" not in body["traits"]
    phone = next(i for i in body["identifiers"] if i["type"] == "phone")
    assert phone["value"] == "+86 138****8000" and phone["display"] == "masked"
    user_id = next(i for i in body["identifiers"] if i["type"] == "user_id")
    assert user_id["value"] == "crm-masking-1" and user_id["display"] == "plain"
    # Only the newest 3 of 5 orders, each with its events.
    assert body["orders_total"] == 5
    assert [o["order_id"] for o in body["orders"]] == ["SO-0005", "SO-0004", "SO-0003"]
    assert body["orders"][0]["status"] == "Order Shipped"
    assert (
        body["orders"][0]["total"] == 104.0 and body["orders"][0]["products"][0]["sku"] == "SKU-4"
    )
    fields = {f["field"]: f for f in body["access"]["fields"]}
    assert fields["traits.phone"] == {
        "field": "traits.phone",
        "field_class": "personal",
        "display": "masked",
        "revealable": False,
    }
    assert fields["traits.id_card"]["display"] == "hidden"
    assert body["access"]["orders_limit"] == 3 and body["access"]["timeline_limit"] == 20


def test_a_senior_agent_sees_every_order_and_an_admin_sees_personal_data(client, db):
    customer_id = seed_person(client, db, orders=5)
    senior = client.get(f"/api/v1/customers/{customer_id}", headers=token_for(db, "senior_agent"))
    assert len(senior.json()["orders"]) == 5
    assert senior.json()["traits"]["email"] == MASKED["email"]
    assert all(f["revealable"] for f in senior.json()["access"]["fields"])
    admin = client.get(f"/api/v1/customers/{customer_id}", headers=token_for(db, "admin")).json()
    assert admin["traits"]["email"] == EMAIL and admin["traits"]["phone"] == PHONE
    assert "id_card" not in admin["traits"]  # sensitive: hidden until revealed


def test_an_agent_reaches_only_the_newest_timeline_items(client, db):
    customer_id = seed_person(client, db, orders=12)  # 2 + 24 events
    agent, admin = token_for(db, "agent"), token_for(db, "admin")
    seen, cursor = [], None
    while True:
        page = client.get(
            f"/api/v1/customers/{customer_id}/timeline",
            params={"limit": 7, **({"cursor": cursor} if cursor else {})},
            headers=agent,
        ).json()
        seen += [item["seq"] for item in page["items"]]
        assert page["limited_to"] == 20
        cursor = page["next_cursor"]
        if not cursor:
            break
    everything = client.get(
        f"/api/v1/customers/{customer_id}/timeline", params={"limit": 200}, headers=admin
    ).json()["items"]
    assert len(everything) == 26
    assert seen == [item["seq"] for item in everything[:20]]
    # A cursor from a wider view does not reach further back either.
    deep = client.get(
        f"/api/v1/customers/{customer_id}/timeline",
        params={"cursor": _cursor_after(client, customer_id, admin, 22)},
        headers=agent,
    ).json()
    assert deep["items"] == [] and deep["next_cursor"] is None


def _cursor_after(client, customer_id, auth, n):
    return client.get(
        f"/api/v1/customers/{customer_id}/timeline", params={"limit": n}, headers=auth
    ).json()["next_cursor"]


def test_every_read_is_audited_with_what_was_unmasked(client, db):
    customer_id = seed_person(client, db)
    before = len(audit_rows(db, "customer.view"))
    client.get(f"/api/v1/customers/{customer_id}", headers=token_for(db, "agent"))
    client.get(f"/api/v1/customers/{customer_id}/timeline", headers=token_for(db, "supervisor"))
    client.get(
        "/api/v1/customers/lookup",
        params={"type": "email", "value": EMAIL.upper()},
        headers=token_for(db, "admin"),
    )
    rows = audit_rows(db, "customer.view")[: len(audit_rows(db, "customer.view")) - before]
    (admin, lookup), (supervisor, timeline), (agent, view) = [(r[0], r[2]) for r in rows]
    assert (agent, view["via"], view["unmasked"], view["fields"]) == ("agent", "api.360", False, [])
    assert (supervisor, timeline["via"], timeline["unmasked"]) == (
        "supervisor",
        "api.timeline",
        True,
    )
    assert admin == "admin" and lookup["via"] == "api.lookup" and lookup["unmasked"] is True
    assert "traits.phone" in lookup["fields"] and "traits.id_card" not in lookup["fields"]
    assert {r[1] for r in rows} == {str(customer_id)}
    # Field names only: no value reaches the audit log.
    assert EMAIL not in str(rows) and "8000" not in str(rows)


def test_reveal_needs_the_permission_a_reason_and_is_audited(client, db):
    customer_id = seed_person(client, db)
    url = f"/api/v1/customers/{customer_id}/reveal"
    senior = token_for(db, "senior_agent")
    denied = client.post(
        url, json={"field": "traits.phone", "reason": "x"}, headers=token_for(db, "agent")
    )
    assert denied.status_code == 403
    for reason in ("", "   ", "x" * 501):
        refused = client.post(url, json={"field": "traits.phone", "reason": reason}, headers=senior)
        assert refused.status_code == 422, reason
    assert audit_rows(db, "customer.reveal") == []

    shown = client.post(
        url,
        json={"field": "traits.phone", "reason": "customer asked for a callback"},
        headers=senior,
    )
    assert shown.status_code == 200
    assert shown.json() == {"customer_id": customer_id, "field": "traits.phone", "value": PHONE}
    sensitive = client.post(
        url, json={"field": "traits.id_card", "reason": "invoice needs it"}, headers=senior
    )
    assert sensitive.json()["value"] == ID_CARD
    identifiers = client.get(f"/api/v1/customers/{customer_id}", headers=senior).json()[
        "identifiers"
    ]
    email_id = next(i["id"] for i in identifiers if i["type"] == "email")
    by_id = client.post(
        url, json={"field": f"identifiers.{email_id}", "reason": "send the invoice"}, headers=senior
    )
    assert by_id.json()["value"] == EMAIL

    rows = audit_rows(db, "customer.reveal")
    assert [(r[0], r[2]["field"], r[2]["class"], r[2]["reason"]) for r in reversed(rows)] == [
        ("senior_agent", "traits.phone", "personal", "customer asked for a callback"),
        ("senior_agent", "traits.id_card", "sensitive", "invoice needs it"),
        ("senior_agent", f"identifiers.{email_id}", "personal", "send the invoice"),
    ]
    assert ID_CARD not in str(rows) and EMAIL not in str(rows)

    missing = client.post(url, json={"field": "traits.nope", "reason": "r"}, headers=senior)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "field"
    malformed = client.post(url, json={"field": "phone", "reason": "r"}, headers=senior)
    assert malformed.status_code == 422


def test_the_policy_decides_which_classes_a_role_may_reveal(client, db):
    customer_id = seed_person(client, db)
    admin = token_for(db, "admin")
    policy = {
        "personal": {"display": "masked", "revealable": True},
        "sensitive": {"display": "hidden", "revealable": False},
    }
    assert (
        client.put("/api/v1/admin/policies/senior_agent", json=policy, headers=admin).status_code
        == 200
    )
    url = f"/api/v1/customers/{customer_id}/reveal"
    senior = token_for(db, "senior_agent")
    refused = client.post(url, json={"field": "traits.id_card", "reason": "r"}, headers=senior)
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "traits.id_card"
    allowed = client.post(url, json={"field": "traits.email", "reason": "r"}, headers=senior)
    assert allowed.status_code == 200


def test_the_review_queue_masks_identifier_values_by_policy(client, db):
    feed(
        db,
        [
            call("identify", 1, userId="crm-alice", traits={"email": "family@example.org"}),
            call("identify", 5, userId="crm-bob", traits={"email": "family@example.org"}),
        ],
        one_by_one=False,
    )
    supervisor = {"Authorization": f"Bearer {make_token(db, 'supervisor')}"}
    [queued] = client.get("/api/v1/identity/conflicts", headers=supervisor).json()
    assert "family@example.org" in {s["value"] for s in queued["sides"]}
    masked = {"personal": {"display": "masked"}, "sensitive": {"display": "hidden"}}
    admin = token_for(db, "admin")
    assert (
        client.put("/api/v1/admin/policies/supervisor", json=masked, headers=admin).status_code
        == 200
    )
    [queued] = client.get("/api/v1/identity/conflicts", headers=supervisor).json()
    assert {s["value"] for s in queued["sides"]} == {"f***@example.org", "crm-bob"}
