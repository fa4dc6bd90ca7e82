"""A person's email threads (address, name, subjects) are part of their export and go
with their erasure; another person's stay (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import func, select, text

from omnicx.channels.email.models import EmailMessage, EmailThread
from tests.channels.email_helpers import (
    CUSTOMER,
    create_mailbox,
    customer_mail,
    send,
    smtp_listener,
)
from tests.factories import make_token, process


def test_threads_are_exported_and_erased(client, db):
    create_mailbox(db)
    with smtp_listener(db) as port:
        send(port, customer_mail("请删除我的资料", subject="隐私申请"))
        send(port, customer_mail("你好", sender="lilei@example.cn", name="李雷"),
             sender="lilei@example.cn")  # fmt: skip
    process(db)
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    customer_id = client.get(
        "/api/v1/customers/lookup", params={"type": "email", "value": CUSTOMER}, headers=admin
    ).json()["id"]
    body = {"kind": "export", "customer_id": customer_id, "reason": "本人申请导出"}
    exported = client.post("/api/v1/privacy/requests", json=body, headers=admin)
    assert exported.status_code == 201, exported.text
    bundle = client.get(f"/api/v1/privacy/requests/{exported.json()['id']}/bundle", headers=admin)
    [record] = bundle.json()["data"]["email_threads"]
    assert (record["address"], record["name"], record["subject"]) == (CUSTOMER, "王芳", "隐私申请")
    body = {"kind": "erase", "customer_id": customer_id, "reason": "本人申请删除"}
    assert client.post("/api/v1/privacy/requests", json=body, headers=admin).status_code == 201
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(EmailThread)) == 1
        assert session.scalar(select(func.count()).select_from(EmailMessage)) == 1
        stored = session.execute(text("SELECT context FROM email_threads")).scalar_one()
    assert "lilei" not in stored and stored.startswith("v1.")  # encrypted at rest
