"""What analysts see: aggregates and pseudonymous customers with public traits only."""

from __future__ import annotations

from omnicx.governance.access import pseudonym
from tests.factories import append_calls, call, make_source, make_token, process


def seed(db):
    source_id, _ = make_source(db)
    calls = [
        call(
            "identify",
            24 * 60 * day,
            userId=f"crm-{day}",
            traits={
                "name": f"客户{day}",
                "email": f"c{day}@corp.cn",
                "tier": "gold",
                "city": "杭州",
                "note": f"回电 1391234{day:04d}",
            },
        )
        for day in range(3)
    ]
    calls += [
        call(
            "track",
            24 * 60 * 2 + 5,
            userId="crm-2",
            event="Order Completed",
            context={"channel": "wechat"},
        ),
        call("track", 24 * 60 * 2 + 6, userId="crm-2", event="Order Completed"),
        call("page", 24 * 60 * 2 + 7, userId="crm-1", name="Home"),
    ]
    append_calls(db, source_id, calls)
    process(db)


def auth(db, role):
    return {"Authorization": f"Bearer {make_token(db, role)}"}


def test_the_overview_counts_customers_and_events_in_the_window(client, db):
    seed(db)
    analyst = auth(db, "analyst")
    body = client.get(
        "/api/v1/analytics/overview",
        params={"days": 2, "until": "2026-01-03T12:00:00Z"},
        headers=analyst,
    ).json()
    assert body["customers"] == 3
    # 2026-01-01T12:00 .. 2026-01-03T12:00: day 1 and day 2's calls.
    assert body["events"] == 5
    assert body["events_by_type"] == {"identify": 2, "track": 2, "page": 1}
    assert body["events_by_channel"] == {"server": 3, "wechat": 1, "web": 1}
    assert body["top_events"][0] == {"name": "Order Completed", "count": 2}
    assert body["new_customers_per_day"] == [
        {"day": "2026-01-02", "customers": 1},
        {"day": "2026-01-03", "customers": 1},
    ]
    wrong = client.get("/api/v1/analytics/overview", params={"days": 0}, headers=analyst)
    assert wrong.status_code == 422
    for too_early in ("0001-01-02T00:00:00Z", "0001-01-01T00:00:00+05:00"):
        early = client.get(
            "/api/v1/analytics/overview", params={"until": too_early}, headers=analyst
        )
        assert early.status_code == 400 and early.json()["error"]["field"] == "until"
    assert client.get("/api/v1/analytics/overview", headers=auth(db, "agent")).status_code == 403


def test_customers_appear_under_pseudonyms_with_public_traits_only(client, db):
    seed(db)
    analyst = auth(db, "analyst")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/analytics/customers", params=params, headers=analyst).json()
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 2 and len(seen) == 3
    ids = [item["id"] for item in seen]
    assert len(set(ids)) == 3 and all(i.startswith("p_") for i in ids)
    first = client.get("/api/v1/analytics/customers", headers=analyst).json()["items"]
    assert [item["id"] for item in first] == ids  # stable
    customer_ids = {
        client.get(
            "/api/v1/customers/lookup",
            params={"type": "user_id", "value": f"crm-{day}"},
            headers=auth(db, "admin"),
        ).json()["id"]
        for day in range(3)
    }
    assert set(ids) == {pseudonym(i) for i in customer_ids}
    for item in seen:
        # Public traits only; free text in them has its phone numbers masked.
        assert set(item["traits"]) == {"tier", "city", "note"}
        assert item["traits"]["note"].startswith("回电 139****")
        assert item["identifier_types"] == {"user_id": 1, "email": 1}
    text = str(seen)
    assert "@corp.cn" not in text and "客户" not in text
    # The cursor is encrypted (a fresh nonce each time), so it does not carry the id.
    assert cursor_of(client, analyst) != cursor_of(client, analyst)
    good = cursor_of(client, analyst)
    tampered = good[:-6] + ("B" if good[-6] != "B" else "C") + good[-5:]
    refused = client.get(
        "/api/v1/analytics/customers", params={"cursor": tampered}, headers=analyst
    )
    assert refused.status_code == 400
    bad = client.get("/api/v1/analytics/customers", params={"cursor": "abc"}, headers=analyst)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "cursor"


def cursor_of(client, headers):
    return client.get("/api/v1/analytics/customers", params={"limit": 1}, headers=headers).json()[
        "next_cursor"
    ]
