"""Privacy requests: the export bundle covers every merged identity; status, deadline,
overdue and re-runs are tracked; errors are the API's, never a 500."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from omnicx.core.time import parse_timestamp, utcnow
from omnicx.governance import audit
from omnicx.governance.models import PrivacyRequest
from omnicx.identity.models import Customer
from tests.factories import append_calls, call, make_source, make_token, process
from tests.governance.privacy_people import (
    ADDRESS,
    APP_ANON,
    DEVICE,
    EMAIL,
    NAME,
    OPENID,
    WEB_ANON,
    li_na_calls,
    merged_ids,
    send_li_na,
)


def test_export_bundle_holds_every_merged_identity(client, db):
    _, key = make_source(db)
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    calls = li_na_calls()
    survivor = send_li_na(client, db, key, calls)
    family = merged_ids(db, survivor)
    assert len(family) == 4

    created = client.post(
        "/api/v1/privacy/requests",
        json={
            "kind": "export",
            "identifier": {"type": "wechat_openid", "value": OPENID, "scope": "wxapp1"},
            "reason": "subject access request",
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["status"] == "completed" and request["customer_id"] == survivor
    assert request["result"]["bundle"]["events"] == len(li_na_calls())

    response = client.get(f"/api/v1/privacy/requests/{request['id']}/bundle", headers=auth)

    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    bundle = response.json()
    assert set(bundle["customer_ids"]) == family
    data = bundle["data"]
    values = {i["value"] for i in data["identity"]["identifiers"]}
    assert {"li.na@example.com", "+8613800138000", OPENID, WEB_ANON, APP_ANON, DEVICE} <= values
    # Every customer she once was contributed identifiers and events.
    assert {i["customer_id"] for i in data["identity"]["identifiers"]} == {survivor}
    assert {m["merged_id"] for m in data["identity"]["merges"]} == family - {survivor}
    assert {e["payload"]["messageId"] for e in data["events"]} == {c["messageId"] for c in calls}
    profile = data["customers"]["profiles"][0]
    assert profile["traits"]["name"] == NAME and profile["traits"]["address"] == ADDRESS
    assert len(data["customers"]["timeline"]) == len(li_na_calls())
    channels = {t["channel"] for t in data["customers"]["timeline"]}
    assert {"web", "app", "wechat", "email"} <= channels
    with db.read() as session:
        entry = audit.search(session, audit.AuditFilter(action="privacy.export"), limit=1)[0]
        assert entry.target_id == str(survivor) and EMAIL.lower() not in entry.detail.lower()


def test_status_deadline_and_overdue_are_tracked(client, db):
    _, key = make_source(db)
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    survivor = send_li_na(client, db, key)
    created = client.post(
        "/api/v1/privacy/requests",
        json={"kind": "erase", "customer_id": survivor, "reason": "by post", "run": False},
        headers=auth,
    ).json()
    assert created["status"] == "received" and created["completed_at"] is None
    due = parse_timestamp(created["due_at"]) - parse_timestamp(created["created_at"])
    assert due == timedelta(days=30)
    bundle = client.get(f"/api/v1/privacy/requests/{created['id']}/bundle", headers=auth)
    assert bundle.status_code == 409, "an erasure has no bundle"

    with db.write() as session:  # the deadline passes
        session.execute(update(PrivacyRequest).values(due_at=utcnow() - timedelta(days=1)))
    overdue = client.get("/api/v1/privacy/requests", params={"overdue": True}, headers=auth)
    assert [r["id"] for r in overdue.json()] == [created["id"]]
    assert overdue.json()[0]["overdue"] is True

    ran = client.post(f"/api/v1/privacy/requests/{created['id']}/run", headers=auth)
    assert ran.status_code == 200, ran.text
    done = ran.json()
    assert done["status"] == "completed" and done["completed_at"] and done["overdue"] is False
    assert (
        client.get("/api/v1/privacy/requests", params={"overdue": True}, headers=auth).json() == []
    )
    again = client.post(f"/api/v1/privacy/requests/{created['id']}/run", headers=auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    listed = client.get(
        "/api/v1/privacy/requests", params={"status": "completed", "kind": "erase"}, headers=auth
    ).json()
    assert [r["id"] for r in listed] == [created["id"]]


def test_bad_requests_are_answered_not_crashed(client, db):
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    cases = [
        ({"kind": "erase", "customer_id": 999, "reason": "x"}, 404),
        ({"kind": "export", "reason": "x"}, 400),
        (
            {
                "kind": "export",
                "customer_id": 1,
                "identifier": {"type": "email", "value": "a@b.cn"},
                "reason": "x",
            },
            400,
        ),
        (
            {
                "kind": "export",
                "identifier": {"type": "phone", "value": "not a phone"},
                "reason": "x",
            },
            400,
        ),
        (
            {
                "kind": "export",
                "identifier": {"type": "email", "value": "nobody@x.cn"},
                "reason": "x",
            },
            404,
        ),
        ({"kind": "delete", "customer_id": 1, "reason": "x"}, 422),
    ]
    for body, status in cases:
        response = client.post("/api/v1/privacy/requests", json=body, headers=auth)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()["error"]) == {"code", "message", "field"}
    assert client.get("/api/v1/privacy/requests/77", headers=auth).status_code == 404
    with db.read() as session:
        assert session.scalars(select(PrivacyRequest)).all() == []


def test_a_reason_with_nul_is_refused_before_anything_is_stored(client, db):
    source_id, _ = make_source(db)
    append_calls(db, source_id, [call("identify", userId="u-nul", traits={"plan": "pro"})])
    process(db)
    with db.read() as session:
        (customer_id,) = session.scalars(select(Customer.id)).all()
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    body = {"kind": "export", "customer_id": customer_id, "reason": "by\x00post", "run": False}
    response = client.post("/api/v1/privacy/requests", json=body, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "reason"
    with db.read() as session:
        assert session.scalars(select(PrivacyRequest)).all() == []
