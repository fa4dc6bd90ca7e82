"""A follower's WeChat reply-window record is part of their export and goes with their
erasure; another follower's stays (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import func, select

from omnicx.channels.wechat.models import WechatCallbackNonce, WechatContact
from tests.channels.wechat_helpers import APP_ID, create_wechat, post, text_xml
from tests.factories import make_token, process


def test_the_reply_window_record_is_exported_and_erased(client, db):
    chat = create_wechat(db)
    assert post(client, chat, text_xml("请删除我的资料", 26_000_001)).text == "success"
    other = text_xml("你好", 26_000_002, openid="oOtherFollower0002")
    assert post(client, chat, other).text == "success"
    process(db)
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    customer_id = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wechat_openid", "value": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "scope": APP_ID},
        headers=admin,
    ).json()["id"]
    body = {"kind": "export", "customer_id": customer_id, "reason": "本人申请导出"}
    exported = client.post("/api/v1/privacy/requests", json=body, headers=admin)
    assert exported.status_code == 201, exported.text
    bundle = client.get(f"/api/v1/privacy/requests/{exported.json()['id']}/bundle", headers=admin)
    [record] = bundle.json()["data"]["wechat_contacts"]
    assert record["channel_id"] == chat.channel_id
    body = {"kind": "erase", "customer_id": customer_id, "reason": "本人申请删除"}
    assert client.post("/api/v1/privacy/requests", json=body, headers=admin).status_code == 201
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(WechatContact)) == 1
        # The nonces keep no message id in the clear (an event's holds the openid).
        keys = list(session.scalars(select(WechatCallbackNonce.message_key)))
    assert len(keys) == 2 and all(len(k) == 64 and "msg-" not in k for k in keys)
