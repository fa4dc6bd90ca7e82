"""Calls from several devices and channels end in one customer, found by any identifier."""

from __future__ import annotations

from tests.factories import call, make_source, make_token, process


def test_identify_track_alias_across_devices_stitch_into_one_customer(client, db):
    _, key = make_source(db)
    token = make_token(db)
    auth = {"Authorization": f"Bearer {token}"}
    calls = [
        call("page", 0, anonymousId="web-anon-1", name="Home", context={"page": {"path": "/"}}),
        call(
            "identify",
            1,
            anonymousId="web-anon-1",
            userId="crm-42",
            traits={"name": "王芳", "email": "Wang.Fang@QQ.com ", "phone": "139 1234 5678"},
        ),
        call(
            "screen",
            5,
            anonymousId="app-anon-9",
            name="Cart",
            context={"device": {"id": "device-abc"}, "app": {"name": "OmniShop"}},
        ),
        call("alias", 6, userId="crm-42", previousId="app-anon-9"),
        call(
            "track",
            9,
            anonymousId="wx-session",
            event="WeChat Message Received",
            context={
                "channel": "wechat",
                "traits": {"phone": "+86 139-1234-5678"},
                "externalIds": [{"type": "wechat_openid", "id": "oWx123", "collection": "wxapp1"}],
            },
        ),
    ]
    response = client.post("/v1/batch", json={"batch": calls}, auth=(key, ""))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 5
    process(db)

    found = set()
    for kind, value, scope in [
        ("user_id", "crm-42", ""),
        ("anonymous_id", "web-anon-1", ""),
        ("anonymous_id", "app-anon-9", ""),
        ("device_id", "device-abc", ""),
        ("email", "wang.fang@qq.com", ""),
        ("phone", "13912345678", ""),
        ("phone", "+8613912345678", ""),
        ("wechat_openid", "oWx123", "wxapp1"),
    ]:
        r = client.get(
            "/api/v1/customers/lookup",
            params={"type": kind, "value": value, "scope": scope},
            headers=auth,
        )
        assert r.status_code == 200, (kind, value, r.text)
        found.add(r.json()["id"])
    assert len(found) == 1

    customer = client.get(f"/api/v1/customers/{found.pop()}", headers=auth).json()
    assert customer["event_count"] == 5
    assert customer["traits"]["name"] == "王芳"
    assert set(customer["channels"]) >= {"web", "app", "wechat"}
    kinds = {i["type"] for i in customer["identifiers"]}
    assert kinds == {"user_id", "anonymous_id", "device_id", "email", "phone", "wechat_openid"}


def test_openid_in_another_app_is_another_person(client, db):
    _, key = make_source(db)
    token = make_token(db)
    calls = [
        call(
            "track",
            0,
            anonymousId="a1",
            context={
                "externalIds": [
                    {"type": "wechat_openid", "id": "same-openid", "collection": "app-A"}
                ]
            },
        ),
        call(
            "track",
            1,
            anonymousId="a2",
            context={
                "externalIds": [
                    {"type": "wechat_openid", "id": "same-openid", "collection": "app-B"}
                ]
            },
        ),
    ]
    assert client.post("/v1/batch", json={"batch": calls}, auth=(key, "")).status_code == 200
    process(db)
    auth = {"Authorization": f"Bearer {token}"}
    a = client.get(
        "/api/v1/customers/lookup",
        headers=auth,
        params={"type": "wechat_openid", "value": "same-openid", "scope": "app-A"},
    ).json()
    b = client.get(
        "/api/v1/customers/lookup",
        headers=auth,
        params={"type": "wechat_openid", "value": "same-openid", "scope": "app-B"},
    ).json()
    assert a["id"] != b["id"]
