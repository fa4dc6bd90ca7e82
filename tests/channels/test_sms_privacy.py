"""A person's SMS records (what was sent them, and through the sink what it would have
sent) are part of their export and go with their erasure; another person's stay
(SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import func, select

from omnicx.channels.sms.models import SmsMessage, SmsSinkEntry
from omnicx.runtime.outbound import make_dispatcher
from tests.channels.sms_helpers import CUSTOMER, create_sms, post, text_form
from tests.factories import make_token, process

OTHER = "+8613600136010"


def test_sms_records_are_exported_and_erased(client, db, settings):
    sms = create_sms(db, provider="sink")
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    for sender, words in ((CUSTOMER, "请删除我的资料"), (OTHER, "你好")):
        assert post(client, sms, text_form(words, sender=sender)).status_code == 200
    process(db)
    for conversation in client.get(
        "/api/v1/conversations", params={"channel": "sms"}, headers=admin
    ).json()["items"]:
        replied = client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"kind": "reply", "text": "已收到，我们会在 30 天内处理。"},
            headers=admin,
        )
        assert replied.status_code == 201
    assert make_dispatcher(db, settings).dispatch_once() == 2
    customer_id = client.get(
        "/api/v1/customers/lookup", params={"type": "phone", "value": CUSTOMER}, headers=admin
    ).json()["id"]
    body = {"kind": "export", "customer_id": customer_id, "reason": "本人申请导出"}
    exported = client.post("/api/v1/privacy/requests", json=body, headers=admin)
    assert exported.status_code == 201, exported.text
    bundle = client.get(f"/api/v1/privacy/requests/{exported.json()['id']}/bundle", headers=admin)
    texts = bundle.json()["data"]["sms_texts"]
    assert [(s["to"], s["text"]) for s in texts["sink"]] == [
        (CUSTOMER, "已收到，我们会在 30 天内处理。")
    ]
    assert [s["status"] for s in texts["sent"]] == ["sent"]
    body = {"kind": "erase", "customer_id": customer_id, "reason": "本人申请删除"}
    assert client.post("/api/v1/privacy/requests", json=body, headers=admin).status_code == 201
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(SmsMessage)) == 1
        assert list(session.scalars(select(SmsSinkEntry.to_number))) == [OTHER]
