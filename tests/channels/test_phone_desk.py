"""Calls in the desk and on the timeline (SQLite and PostgreSQL): a member known by phone
calls and the call lands on their customer as a conversation message; a missed call
opens a callback conversation in the queue; the recording and the transcript follow in
the same thread; the console shows each in the reader's language."""

from __future__ import annotations

from typing import Any

import pytest

from tests.channels.phone_helpers import CALLER, Phone, call, call_id, create_phone, post
from tests.factories import make_source, make_token, process
from tests.web.console_scene import person, sign_in


@pytest.fixture
def phone(db) -> Phone:
    return create_phone(db)


def _admin(db) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(db, 'admin')}"}


def _conversations(client, db) -> list[dict[str, Any]]:
    process(db)
    found = client.get("/api/v1/conversations", params={"channel": "phone"}, headers=_admin(db))
    assert found.status_code == 200, found.text
    return [c for c in found.json()["items"] if c["thread"] == CALLER]


def _messages(client, db, conversation_id: int) -> list[dict[str, Any]]:
    path = f"/api/v1/conversations/{conversation_id}/messages"
    return list(client.get(path, headers=_admin(db)).json()["items"])


def test_a_members_answered_call_lands_on_their_customer_and_timeline(client, db, phone):
    _, write_key = make_source(db, "crm")
    identify = {"userId": "M-20261207-0042", "traits": {"name": "王芳", "phone": "13912345678"}}
    assert client.post("/v1/identify", json=identify, auth=(write_key, "")).status_code == 200
    cid = call_id()
    for event, extra in [("ringing", {}), ("answered", {}), ("hangup", {"duration": 192})]:
        assert post(client, phone, call(event, cid, **extra)).status_code == 200
    [conversation] = _conversations(client, db)
    member = client.get(
        "/api/v1/customers/lookup", params={"type": "user_id", "value": "M-20261207-0042"},
        headers=_admin(db),
    ).json()  # fmt: skip
    assert conversation["customer_id"] == member["id"]
    # Served on the phone: not waiting for a reply, no callback asked.
    assert conversation["waiting_since"] is None and conversation["labels"] == []
    [message] = _messages(client, db, conversation["id"])
    assert message["direction"] == "in"
    [attachment] = message["attachments"]
    assert attachment["outcome"] == "answered" and attachment["duration_seconds"] == 192
    timeline = client.get(
        f"/api/v1/customers/{member['id']}/timeline", headers=_admin(db)
    ).json()["items"]  # fmt: skip
    names = [item["name"] for item in timeline]
    assert {"Call Ringing", "Call Answered", "Message Received"} <= set(names)
    supervisor = person(db, None, "supervisor")
    sign_in(client, supervisor)
    page = client.get(f"/desk/conversations/{conversation['id']}")
    assert "Incoming call, 3:12" in page.text
    chinese = client.get(
        f"/desk/conversations/{conversation['id']}", headers={"Accept-Language": "zh-CN"}
    )
    assert "来电，时长 3:12" in chinese.text


def test_a_missed_call_opens_a_callback_conversation_in_the_queue(client, db, phone):
    cid = call_id()
    assert post(client, phone, call("ringing", cid)).status_code == 200
    assert post(client, phone, call("hangup", cid, cause="no_answer")).status_code == 200
    [conversation] = _conversations(client, db)
    assert conversation["status"] == "open" and conversation["labels"] == ["callback"]
    assert conversation["waiting_since"] is not None
    supervisor = person(db, None, "supervisor")
    sign_in(client, supervisor)
    inbox = client.get("/desk", headers={"Accept-Language": "zh-CN"})
    assert "需要回电" in inbox.text
    # The row's preview says what the call was, in the reader's language.
    assert "未接来电" in inbox.text
    page = client.get(
        f"/desk/conversations/{conversation['id']}", headers={"Accept-Language": "zh-CN"}
    )
    assert "未接来电" in page.text and "需要回电" in page.text


def test_the_recording_and_transcript_follow_in_the_same_thread(client, db, phone):
    cid = call_id()
    post(client, phone, call("answered", cid, agent="8001"))
    post(client, phone, call("hangup", cid, duration=75, agent="8001"))
    url = "https://pbx.omnishop.cn/recordings/2026/12/07/c1.wav"
    assert post(client, phone, call("recording", cid, recording_url=url)).status_code == 200
    text = "客户：我的快递三天没动了。坐席：我帮您查一下物流。"
    assert post(client, phone, call("transcript", cid, transcript=text)).status_code == 200
    [conversation] = _conversations(client, db)
    call_message, recording, transcript = _messages(client, db, conversation["id"])
    assert recording["attachments"] == [{"type": "recording", "call_id": cid, "url": url}]
    assert transcript["text"] == text
    assert conversation["waiting_since"] is None
    supervisor = person(db, None, "supervisor")
    sign_in(client, supervisor)
    page = client.get(f"/desk/conversations/{conversation['id']}").text
    assert "Call recording" in page and f'href="{url}"' in page
    assert "Call transcript" in page and "我帮您查一下物流" in page
    assert call_message["attachments"][0]["agent_extension"] == "8001"


def test_calling_back_takes_the_callback_label_off(client, db, phone):
    missed = call_id()
    post(client, phone, call("hangup", missed, cause="no_answer"))
    [conversation] = _conversations(client, db)
    assert conversation["labels"] == ["callback"]
    # We call them back, and they pick up: the same thread, the callback done.
    back = call_id()
    outbound = {"from": "4008001234", "to": CALLER, "direction": "outbound"}
    post(client, phone, {**call("answered", back), **outbound})
    post(client, phone, {**call("hangup", back, duration=95), **outbound})
    [after] = _conversations(client, db)
    assert after["id"] == conversation["id"]
    assert after["labels"] == [] and after["waiting_since"] is None
    assert [m["attachments"][0]["outcome"] for m in _messages(client, db, after["id"])] == [
        "missed", "answered",
    ]  # fmt: skip
