"""The 360's orders: picked from the timeline's order ids, newest placed first, each with
its events; an order event without an order id is an order of its own."""

from __future__ import annotations

from tests.factories import make_source, process
from tests.governance.masking_people import person_calls, token_for


def test_orders_are_grouped_by_order_id_and_counted_in_full(client, db):
    calls = person_calls(orders=4)
    calls += [
        {  # an SDK that spells it orderId: still order SO-0002, placed when it completed
            "type": "track",
            "userId": "crm-masking-1",
            "messageId": "late-delivery",
            "timestamp": "2026-02-01T09:00:00Z",
            "event": "Order Delivered",
            "properties": {"orderId": "SO-0002"},
        },
        {  # no order id at all: an order of its own
            "type": "track",
            "userId": "crm-masking-1",
            "messageId": "anonymous-refund",
            "timestamp": "2026-01-20T09:00:00Z",
            "event": "Order Refunded",
            "properties": {"total": 12.5},
        },
    ]
    _, write_key = make_source(db)
    assert client.post("/v1/batch", json={"batch": calls}, auth=(write_key, "")).status_code == 200
    process(db)
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "user_id", "value": "crm-masking-1"},
        headers=token_for(db, "admin"),
    ).json()["id"]

    senior = client.get(f"/api/v1/customers/{found}", headers=token_for(db, "senior_agent"))
    body = senior.json()
    assert body["orders_total"] == 5
    assert [o["order_id"] for o in body["orders"]] == [
        None,
        "SO-0004",
        "SO-0003",
        "SO-0002",
        "SO-0001",
    ]
    refund, second = body["orders"][0], body["orders"][3]
    assert refund["status"] == "Order Refunded" and refund["total"] == 12.5
    assert second["status"] == "Order Delivered" and second["placed_at"].startswith("2026-01-03")
    assert [e["name"] for e in second["events"]] == [
        "Order Delivered",
        "Order Shipped",
        "Order Completed",
    ]

    agent = client.get(f"/api/v1/customers/{found}", headers=token_for(db, "agent")).json()
    assert agent["orders_total"] == 5
    assert [o["order_id"] for o in agent["orders"]] == [None, "SO-0004", "SO-0003"]
