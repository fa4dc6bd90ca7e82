"""The orders row limit holds on every surface: a role limited to the newest N orders
does not read the other orders' ids, totals or products anywhere — not in the 360's
recent events, the timeline pages, the lookup, the customer page or an export. Their
events are listed as withheld, without properties."""

from __future__ import annotations

import json

import pytest

from omnicx.governance.policies import DEFAULT_ROLES
from tests.factories import make_source, process
from tests.governance.masking_people import body_text, person_calls, sign_in_as, token_for
from tests.governance.test_masking_surfaces import get_routes, url_and_params

ORDERS = 5  # SO-0001 … SO-0005, the newest last; the agent's policy shows 3
# What an agent must not read about SO-0001 and SO-0002 (the two oldest orders).
OLDER_ORDER_IDS = ("SO-0001", "SO-0002")
OLDER_ORDER_DETAILS = ("SKU-0", "SKU-1", "保温杯 0", "保温杯 1")
OLDER_TOTALS = {100.0, 101.0, 99.0}


def limited(role: str) -> int | None:
    return DEFAULT_ROLES[role].orders_limit


@pytest.fixture
def customer_id(client, db) -> int:
    """The masking person with five orders, and a checkout of the oldest one that names
    its order id and total in an event that is not an "Order …" event."""
    calls = person_calls(ORDERS)
    calls.append(
        {
            "type": "track",
            "userId": "crm-masking-1",
            "messageId": "mask-checkout-0",
            "timestamp": "2026-01-02T09:30:00Z",
            "event": "Checkout Started",
            "properties": {"order_id": "SO-0001", "revenue": 99.0, "currency": "CNY"},
        }
    )
    _, write_key = make_source(db)
    response = client.post("/v1/batch", json={"batch": calls}, auth=(write_key, ""))
    assert response.status_code == 200, response.text
    process(db)
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "user_id", "value": "crm-masking-1"},
        headers=token_for(db, "admin"),
    )
    return int(found.json()["id"])


def order_of(item: dict) -> str | None:
    return item["properties"].get("order_id")


def leaks(text: str) -> list[str]:
    return [s for s in (*OLDER_ORDER_IDS, *OLDER_ORDER_DETAILS) if s in text]


def full_timeline(client, customer_id: int, headers) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = client.get(
            f"/api/v1/customers/{customer_id}/timeline", params=params, headers=headers
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


@pytest.mark.parametrize("role", ["admin", "supervisor", "senior_agent", "agent"])
def test_the_timeline_api_shows_only_the_orders_the_role_may_see(client, db, customer_id, role):
    items = full_timeline(client, customer_id, token_for(db, role))
    assert len(items) == 2 + 2 * ORDERS + 1
    shown = {order_of(i) for i in items if not i["withheld"]} - {None}
    withheld = [i for i in items if i["withheld"]]
    if limited(role) is None:
        assert shown == {f"SO-{n:04d}" for n in range(1, ORDERS + 1)} and withheld == []
        return
    assert shown == {"SO-0003", "SO-0004", "SO-0005"}
    # Both events of each older order, and the checkout naming SO-0001, are withheld.
    assert sorted(i["name"] for i in withheld) == [
        "Checkout Started",
        "Order Completed",
        "Order Completed",
        "Order Shipped",
        "Order Shipped",
    ]
    assert all(i["properties"] == {} for i in withheld)
    assert leaks(json.dumps(items, ensure_ascii=False)) == []


@pytest.mark.parametrize("role", ["senior_agent", "agent"])
def test_the_360_and_the_lookup_keep_older_orders_out_of_recent_events(
    client, db, customer_id, role
):
    headers = token_for(db, role)
    for response in (
        client.get(f"/api/v1/customers/{customer_id}", headers=headers),
        client.get(
            "/api/v1/customers/lookup",
            params={"type": "user_id", "value": "crm-masking-1"},
            headers=headers,
        ),
    ):
        assert response.status_code == 200, response.text
        body = response.json()
        events = body["recent_events"]
        shown = {order_of(e) for e in events if not e["withheld"]} - {None}
        if limited(role) is None:
            assert len(body["orders"]) == ORDERS and "SO-0001" in shown
            assert not any(e["withheld"] for e in events)
            continue
        assert [o["order_id"] for o in body["orders"]] == ["SO-0005", "SO-0004", "SO-0003"]
        assert shown == {"SO-0003", "SO-0004", "SO-0005"}
        assert sum(e["withheld"] for e in events) == 5
        assert leaks(response.text) == []
        totals = {e["properties"].get("total") for e in events} | {
            e["properties"].get("revenue") for e in events
        }
        assert not totals & OLDER_TOTALS


def test_a_role_without_orders_reads_no_order_events(client, db, customer_id):
    # Tighten the agent's policy to no orders at all: every order event is withheld.
    admin = token_for(db, "admin")
    policy = client.get("/api/v1/admin/policies/agent", headers=admin)
    assert policy.status_code == 200, policy.text
    saved = client.put(
        "/api/v1/admin/policies/agent", json={**policy.json(), "orders_limit": 0}, headers=admin
    )
    assert saved.status_code == 200, saved.text
    agent = token_for(db, "agent")
    body = client.get(f"/api/v1/customers/{customer_id}", headers=agent).json()
    assert body["orders"] == [] and body["orders_total"] == 0
    orders = [
        e for e in body["recent_events"] if (e["name"] or "").startswith(("Order", "Checkout"))
    ]
    assert len(orders) == 2 * ORDERS + 1 and all(e["withheld"] for e in orders)
    assert "SO-0005" not in json.dumps(body, ensure_ascii=False)


def test_the_customer_page_lists_older_orders_as_hidden(client, db, customer_id):
    sign_in_as(client, db, "agent")
    page = client.get(f"/customers/{customer_id}")
    assert page.status_code == 200
    assert leaks(page.text) == []
    assert page.text.count("(order hidden)") == 5
    assert "SO-0005" in page.text  # the newest orders are there
    sign_in_as(client, db, "senior_agent")
    page = client.get(f"/customers/{customer_id}")
    assert "SO-0001" in page.text and "(order hidden)" not in page.text


def test_no_surface_shows_an_agent_the_older_orders(client, db, customer_id):
    # Every GET route and page, as in the masking surface test: a new surface that shows
    # customer data joins this check by itself.
    agent = token_for(db, "agent")
    problems = []
    for path, route in get_routes(client.app, api=True):
        url, params = url_and_params(path, route, customer_id)
        response = client.get(url, params=params, headers=agent)
        problems += [f"GET {path} shows {s}" for s in leaks(body_text(response))]
    sign_in_as(client, db, "agent")
    for path, route in get_routes(client.app, api=False):
        url, params = url_and_params(path, route, customer_id)
        response = client.get(url, params=params)
        problems += [f"page {path} shows {s}" for s in leaks(body_text(response))]
    assert problems == []
