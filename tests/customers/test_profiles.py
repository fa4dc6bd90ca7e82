"""The customer projection: counters, traits across a merge, the timeline and the 360 read."""

from __future__ import annotations

from tests.factories import append_calls, call, make_source, make_token, process


def lookup(client, token, kind, value):
    return client.get(
        "/api/v1/customers/lookup",
        params={"type": kind, "value": value},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_merge_folds_counters_traits_and_timeline(client, db):
    source_id, _ = make_source(db)
    token = make_token(db)
    append_calls(
        db,
        source_id,
        [
            call(
                "identify",
                0,
                anonymousId="phone-caller",
                traits={"phone": "13800138000", "city": "Hangzhou"},
            ),
            call("track", 5, anonymousId="phone-caller", event="Call Completed"),
            call(
                "identify", 10, userId="crm-7", traits={"email": "li.lei@163.com", "name": "李雷"}
            ),
            call("track", 12, userId="crm-7", event="Order Completed"),
        ],
    )
    process(db)
    before = lookup(client, token, "user_id", "crm-7").json()
    other = lookup(client, token, "phone", "13800138000").json()
    assert before["id"] != other["id"]

    # The member confirms their phone: the two customers are one person.
    append_calls(
        db,
        source_id,
        [
            call(
                "identify",
                20,
                userId="crm-7",
                traits={"phone": "+86 138 0013 8000", "city": "Shanghai"},
            )
        ],
    )
    process(db)
    merged = lookup(client, token, "phone", "13800138000").json()
    assert merged["id"] == lookup(client, token, "user_id", "crm-7").json()["id"]
    assert merged["event_count"] == 5
    assert merged["traits"]["city"] == "Shanghai"  # the latest event wins
    assert merged["traits"]["name"] == "李雷"
    assert merged["first_seen_at"].startswith("2026-01-01T00:00")
    assert len(merged["merges"]) == 1
    timeline = client.get(
        f"/api/v1/customers/{merged['id']}/timeline", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [i["name"] for i in timeline["items"]][:2] == [None, "Order Completed"]
    assert len(timeline["items"]) == 5
    # The merged-away id still answers, with the survivor.
    gone = next(m["merged_id"] for m in merged["merges"])
    again = client.get(f"/api/v1/customers/{gone}", headers={"Authorization": f"Bearer {token}"})
    assert again.json()["id"] == merged["id"] and again.json()["requested_id"] == gone


def test_timeline_pages_newest_first_without_gaps(client, db):
    source_id, _ = make_source(db)
    token = make_token(db)
    append_calls(
        db, source_id, [call("track", i, userId="crm-page", event=f"E{i}") for i in range(23)]
    )
    process(db)
    customer = lookup(client, token, "user_id", "crm-page").json()
    seen, cursor = [], None
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = client.get(
            f"/api/v1/customers/{customer['id']}/timeline",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        seen += [i["name"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"E{i}" for i in reversed(range(23))]


def test_bad_cursor_and_unknown_customer_are_clear_errors(client, db):
    token = make_token(db)
    auth = {"Authorization": f"Bearer {token}"}
    missing = client.get("/api/v1/customers/999999", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    source_id, _ = make_source(db)
    append_calls(db, source_id, [call("track", 0, userId="crm-x")])
    process(db)
    cid = lookup(client, token, "user_id", "crm-x").json()["id"]
    bad = client.get(f"/api/v1/customers/{cid}/timeline", params={"cursor": "%%%"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "cursor"
    unknown = lookup(client, token, "email", "nobody@example.com")
    assert unknown.status_code == 404
    invalid = lookup(client, token, "phone", "not-a-phone")
    assert invalid.status_code == 400 and invalid.json()["error"]["field"] == "value"


def test_events_without_usable_identifiers_are_kept_but_unattributed(client, db):
    source_id, _ = make_source(db)
    token = make_token(db)
    append_calls(
        db,
        source_id,
        [
            call("track", 0, anonymousId="undefined"),
            call("track", 1, anonymousId="null", userId="crm-ok"),
        ],
    )
    process(db)
    ok = lookup(client, token, "user_id", "crm-ok").json()
    assert ok["event_count"] == 1
    assert {i["type"] for i in ok["identifiers"]} == {"user_id"}
