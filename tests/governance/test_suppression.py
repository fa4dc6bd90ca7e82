"""The suppression list: idempotent, looked up by blind index only, managed through the
API (audited), and enforced at ingest: an event carrying an identifier suppressed for
good is redacted and resolves nothing, while the rest of its batch goes on."""

from __future__ import annotations

from sqlalchemy import func, select

from omnicx.core.database import RawStatements
from omnicx.core.eventlog.codec import decode_payload
from omnicx.customers.models import TimelineEntry
from omnicx.governance import audit
from omnicx.governance.models import Suppression
from omnicx.governance.suppression import suppress, suppressed_hashes
from omnicx.identity.models import Customer, Identifier
from omnicx.identity.service import identifier_hash
from tests.factories import append_calls, call, make_source, make_token, process


def key(kind: str, value: str, scope: str = "") -> bytes:
    return identifier_hash(kind, value, scope)[2]


def test_suppress_is_idempotent_and_scoped(db):
    email, phone = key("email", "a@x.cn"), key("phone", "13800138000")
    with db.write() as session:
        assert suppress(session, email, "email", "all", "erased", "test") is True
        assert suppress(session, email, "email", "all", "erased", "test") is False
        assert suppress(session, phone, "phone", "marketing", "requested", "test") is True
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 2
        asked = [email, phone, key("email", "b@x.cn")]
        assert suppressed_hashes(session, asked) == {email}
        assert suppressed_hashes(session, asked, ("all", "marketing")) == {email, phone}
        assert suppressed_hashes(session, [], ("all",)) == set()


def test_many_hashes_are_checked_in_chunks(db):
    wanted = [key("user_id", f"u-{i}") for i in range(1200)]
    with db.write() as session:
        for k in wanted[::100]:
            suppress(session, k, "user_id", "all", "erased", "test")
    with db.read() as session:
        assert suppressed_hashes(session, wanted) == set(wanted[::100])


def test_api_adds_lists_and_removes_by_blind_index_only(client, db):
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    body = {
        "identifier": {"type": "phone", "value": "+86 138 0013 8000"},
        "scope": "marketing",
        "reason": "complaint",
    }
    first = client.post("/api/v1/privacy/suppressions", json=body, headers=auth)
    again = client.post("/api/v1/privacy/suppressions", json=body, headers=auth)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["identifier_type"] == "phone"
    assert "13800138000" not in first.text
    with db.read() as session:
        row = session.scalar(select(Suppression))
        assert row is not None and bytes(row.key_hash) == key("phone", "138 0013 8000")
    listed = client.get(
        "/api/v1/privacy/suppressions", params={"scope": "marketing"}, headers=auth
    ).json()
    assert [s["id"] for s in listed] == [first.json()["id"]]
    bad = {**body, "identifier": {"type": "phone", "value": "12"}}
    assert client.post("/api/v1/privacy/suppressions", json=bad, headers=auth).status_code == 400

    gone = client.delete(f"/api/v1/privacy/suppressions/{first.json()['id']}", headers=auth)
    assert gone.status_code == 204
    missing = client.delete(f"/api/v1/privacy/suppressions/{first.json()['id']}", headers=auth)
    assert missing.status_code == 404
    with db.read() as session:
        actions = [
            e.action for e in audit.search(session, audit.AuditFilter(action="suppression."))
        ]
        assert actions == ["suppression.remove", "suppression.add"]


def test_an_event_with_a_suppressed_identifier_is_redacted_and_not_resolved(db):
    source_id, _ = make_source(db)
    with db.write() as session:
        suppress(session, key("email", "gone@x.cn"), "email", "all", "erased", "test")
        suppress(session, key("email", "quiet@x.cn"), "email", "marketing", "requested", "test")
    append_calls(
        db,
        source_id,
        [
            call("identify", 0, userId="u-gone", traits={"email": "Gone@X.cn", "name": "Gone"}),
            call("identify", 1, userId="u-kept", traits={"email": "kept@x.cn"}),
            call("identify", 2, userId="u-quiet", traits={"email": "quiet@x.cn"}),
            call("track", 3, userId="u-gone", event="Order Completed"),
        ],
    )
    process(db)

    with db.read() as session:
        rows = RawStatements(session).select(
            "SELECT seq, type, name, payload FROM events ORDER BY seq"
        )
        payloads = [decode_payload(p) for *_, p in rows]
        assert payloads[0] == {"type": "identify", "redacted": "suppressed"}
        assert payloads[1]["userId"] == "u-kept" and payloads[2]["userId"] == "u-quiet"
        # u-gone alone is not suppressed: the order event resolves to a new customer.
        assert payloads[3]["userId"] == "u-gone"
        assert rows[0][1] == "identify", "the row keeps its type"
        keys = {bytes(k) for k in session.scalars(select(Identifier.key_hash))}
        assert key("email", "gone@x.cn") not in keys
        assert {
            key("user_id", "u-kept"),
            key("user_id", "u-quiet"),
            key("user_id", "u-gone"),
        } <= keys
        assert session.scalar(select(func.count()).select_from(Customer)) == 3
        on_timeline = set(session.scalars(select(TimelineEntry.event_seq)))
        assert on_timeline == {rows[1][0], rows[2][0], rows[3][0]}
