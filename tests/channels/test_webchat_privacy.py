"""A visitor's web chat thread is part of their export and goes with their erasure; other
visitors' threads stay. Through the app's own WebSocket (TestClient), SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid

from omnicx.channels.service import create_channel
from omnicx.channels.webchat.transcript import thread_history
from omnicx.core.outbox import enqueue
from omnicx.runtime.outbound import make_dispatcher
from tests.factories import make_token, process

SHOP = "https://shop.example.cn"


def _chat(client, token: str, text: str) -> dict:
    url = f"/widget/ws?token={token}&lang=zh-CN"
    with client.websocket_connect(url, headers={"origin": SHOP}) as ws:
        welcome = ws.receive_json()
        client_id = uuid.uuid4().hex
        ws.send_json({"type": "message", "client_id": client_id, "text": text})
        while ws.receive_json()["type"] != "ack":
            pass
    return welcome


def test_the_thread_is_exported_and_erased_with_the_person(client, db, settings):
    with db.write() as session:
        channel, _ = create_channel(session, "webchat", "官网客服", origins=[SHOP])
        channel_id, token = channel.id, channel.public_token
    erased_one = _chat(client, token, "我的手机号是13900001111，请帮我改地址。")
    other = _chat(client, token, "你们周末营业吗？")
    process(db)
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "anonymous_id", "value": erased_one["visitor_id"]},
        headers=admin,
    )
    assert found.status_code == 200, found.text
    customer_id = found.json()["id"]
    thread = f"v:{erased_one['visitor_id']}"
    with db.write() as session:
        reply = {"channel_id": channel_id, "thread": thread, "text": "已为您修改。"}
        enqueue(session, "channel.webchat", reply, customer_id=customer_id, purpose="service")
    make_dispatcher(db, settings).dispatch_once()

    body = {"kind": "export", "customer_id": customer_id, "reason": "本人申请导出"}
    exported = client.post("/api/v1/privacy/requests", json=body, headers=admin)
    assert exported.status_code == 201, exported.text
    assert exported.json()["result"]["bundle"]["webchat_transcript"] == 1
    bundle = client.get(f"/api/v1/privacy/requests/{exported.json()['id']}/bundle", headers=admin)
    [part] = bundle.json()["data"]["webchat_transcript"]
    assert part["thread"] == thread
    assert [m["text"] for m in part["messages"]] == [
        "我的手机号是13900001111，请帮我改地址。",
        "已为您修改。",
    ]

    body = {"kind": "erase", "customer_id": customer_id, "reason": "本人申请删除"}
    erased = client.post("/api/v1/privacy/requests", json=body, headers=admin)
    assert erased.status_code == 201, erased.text
    with db.read() as session:
        assert thread_history(session, channel_id, thread) == []
        kept = thread_history(session, channel_id, f"v:{other['visitor_id']}")
    assert [line.text for line in kept] == ["你们周末营业吗？"]
