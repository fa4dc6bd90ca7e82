"""A person's review items (their unmatched-sender item with its note, a backfill item
holding their member number) are part of their export and go with their erasure;
another person's stay (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omnicx.core.settings import get_settings
from omnicx.desk.review.models import BackfillItem, UnmatchedSender
from omnicx.web.app import create_app
from tests.channels.sms_helpers import CUSTOMER, create_sms, post, text_form
from tests.desk.review.review_helpers import bearer, review_env
from tests.factories import make_source, make_token, process

OTHER = "+8613600136010"


@pytest.fixture
def api(settings, monkeypatch, db) -> Any:
    review_env(monkeypatch)
    english = {"Accept-Language": "en"}
    with TestClient(create_app(get_settings(), background=False), headers=english) as client:
        yield client


def test_review_items_are_exported_and_erased(api, db) -> None:
    admin = bearer(make_token(db, "admin"))
    sms = create_sms(db)
    _, cti_key = make_source(db, "cti-centre")
    for n, (phone, member) in enumerate(((CUSTOMER, "M-9001"), (OTHER, "M-9002"))):
        assert post(api, sms, text_form("你好", sender=phone)).status_code == 200
        call = {
            "type": "track",
            "event": "Call Completed",
            "messageId": f"cti-{n}",
            "userId": f"caller-{n}",
            "context": {
                "traits": {"phone": phone},
                "externalIds": [{"type": "member_id", "id": member}],
            },
        }
        assert api.post("/v1/track", json=call, auth=(cti_key, "")).status_code == 200
    process(db)
    customer_id = api.get(
        "/api/v1/customers/lookup", params={"type": "phone", "value": CUSTOMER}, headers=admin
    ).json()["id"]
    mine = next(
        i
        for i in api.get("/api/v1/review/unmatched", headers=admin).json()
        if i["customer_id"] == customer_id
    )
    note = {"note": "客户说会去门店登记会员"}
    dismissed = api.post(f"/api/v1/review/unmatched/{mine['id']}/dismiss", json=note, headers=admin)
    assert dismissed.status_code == 200

    body = {"kind": "export", "customer_id": customer_id, "reason": "本人申请导出"}
    exported = api.post("/api/v1/privacy/requests", json=body, headers=admin)
    assert exported.status_code == 201, exported.text
    bundle = api.get(f"/api/v1/privacy/requests/{exported.json()['id']}/bundle", headers=admin)
    data = bundle.json()["data"]["review_queues"]
    assert [(u["channel"], u["note"]) for u in data["unmatched"]] == [
        ("sms", "客户说会去门店登记会员")
    ]
    assert [(b["type"], b["value"]) for b in data["backfill"]] == [("member_id", "M-9001")]

    body = {"kind": "erase", "customer_id": customer_id, "reason": "本人申请删除"}
    assert api.post("/api/v1/privacy/requests", json=body, headers=admin).status_code == 201
    with db.read() as session:
        left = [b.value for b in session.scalars(select(BackfillItem))]
        people = list(session.scalars(select(UnmatchedSender.customer_id)))
    assert left == ["M-9002"]
    assert customer_id not in people and len(people) == 1
