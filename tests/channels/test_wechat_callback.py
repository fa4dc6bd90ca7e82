"""WeChat's callback on SQLite and PostgreSQL: the console's URL check, every message
type and follower event onto the log (and from there into the desk and the timeline),
the safe and compatible modes, retries, and refused signatures — built, signed and
encrypted with wechatpy as WeChat's servers do."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select

from omnicx.channels.service import create_channel
from omnicx.core.eventlog.models import EventRow
from omnicx.governance.models import AuditEntry
from tests.channels.wechat_helpers import (
    APP_ID,
    OPENID,
    Wechat,
    callback,
    create_wechat,
    event_xml,
    message_xml,
    post,
    sign,
    signed_params,
    text_xml,
)
from tests.factories import make_source, make_token, process


@pytest.fixture
def chat(db) -> Wechat:
    return create_wechat(db)


def _admin(db) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(db, 'admin')}"}


def _events(db) -> list[EventRow]:
    with db.read() as session:
        rows = list(session.scalars(select(EventRow).order_by(EventRow.seq)))
        session.expunge_all()
        return rows


def _refusals(db) -> list[AuditEntry]:
    with db.read() as session:
        rows = list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == "channel.refused"))
        )
        session.expunge_all()
        return rows


def _thread(client, db, openid: str = OPENID) -> list[dict[str, Any]]:
    """The desk's messages of the follower's WeChat conversation, oldest first."""
    process(db)
    admin = _admin(db)
    found = client.get("/api/v1/conversations", params={"channel": "wechat"}, headers=admin)
    conversations = [c for c in found.json()["items"] if c["thread"] == openid]
    assert len(conversations) == 1, found.text
    messages = client.get(f"/api/v1/conversations/{conversations[0]['id']}/messages", headers=admin)
    return list(messages.json()["items"])


def test_the_console_checks_the_url(client, db, chat):
    params = signed_params()
    answer = client.get(chat.path, params={**params, "echostr": "5838479218127813673"})
    assert answer.status_code == 200 and answer.text == "5838479218127813673"
    forged = {**params, "signature": sign("another-token", params["timestamp"], params["nonce"])}
    refused = client.get(chat.path, params={**forged, "echostr": "1"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "signature_invalid"
    assert client.get("/wechat/callback/wx_unknown", params=params).status_code == 404
    [entry] = _refusals(db)
    assert entry.target_id == str(chat.channel_id) and '"forged"' in entry.detail


def test_each_message_type_becomes_a_conversation_message(client, db, chat):
    now = int(time.time())
    kinds = [
        text_xml("你好，我的空调不制冷了", 24_000_001),
        message_xml(
            "image", PicUrl="http://mmbiz.qpic.cn/a.jpg", MediaId="MEDIA_IMG", MsgId=24_000_002
        ),
        message_xml(
            "voice",
            MediaId="MEDIA_VOICE",
            Format="amr",
            Recognition="师傅明天几点上门",
            MsgId=24_000_003,
        ),
        message_xml("video", MediaId="MEDIA_VIDEO", ThumbMediaId="THUMB", MsgId=24_000_004),
        message_xml("shortvideo", MediaId="MEDIA_SHORT", ThumbMediaId="THUMB2", MsgId=24_000_005),
        message_xml(
            "location",
            Location_X="31.230416",
            Location_Y="121.473701",
            Scale="15",
            Label="上海市黄浦区人民大道",
            MsgId=24_000_006,
        ),
        message_xml(
            "link",
            Title="安装预约单",
            Description="请尽快安排",
            Url="https://shop.example.cn/orders/77",
            MsgId=24_000_007,
            created=now,
        ),
    ]
    for xml in kinds:
        answer = post(client, chat, xml)
        assert answer.status_code == 200 and answer.text == "success", answer.text
    thread = _thread(client, db)
    assert [m["text"] for m in thread] == [
        "你好，我的空调不制冷了",
        "",
        "师傅明天几点上门",
        "",
        "",
        "上海市黄浦区人民大道",
        "安装预约单\nhttps://shop.example.cn/orders/77",
    ]
    attachments = [m["attachments"] for m in thread]
    assert attachments[0] == []
    assert attachments[1] == [
        {
            "type": "image",
            "provider": "wechat",
            "channel_id": chat.channel_id,
            "media_id": "MEDIA_IMG",
            "url": "http://mmbiz.qpic.cn/a.jpg",
        }
    ]
    assert attachments[2][0]["type"] == "voice" and attachments[2][0]["format"] == "amr"
    assert [a[0]["media_id"] for a in attachments[3:5]] == ["MEDIA_VIDEO", "MEDIA_SHORT"]
    assert attachments[5][0]["latitude"] == "31.230416"
    assert attachments[6][0]["url"] == "https://shop.example.cn/orders/77"
    assert all(m["direction"] == "in" for m in thread)


def test_follower_events_land_on_the_customer_timeline(client, db, chat):
    now = int(time.time())
    events = [
        event_xml("subscribe", created=now - 50, EventKey="qrscene_store_42", Ticket="TICKET1"),
        event_xml("SCAN", created=now - 40, EventKey="store_42", Ticket="TICKET1"),
        event_xml("CLICK", created=now - 30, EventKey="MENU_REPAIR"),
        event_xml("VIEW", created=now - 20, EventKey="https://shop.example.cn/repair"),
        event_xml("unsubscribe", created=now - 10),
    ]
    for xml in events:
        assert post(client, chat, xml).text == "success"
    process(db)
    admin = _admin(db)
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wechat_openid", "value": OPENID, "scope": APP_ID},
        headers=admin,
    )
    assert found.status_code == 200, found.text
    timeline = client.get(f"/api/v1/customers/{found.json()['id']}/timeline", headers=admin)
    entries = timeline.json()["items"]
    assert [e["name"] for e in entries] == [
        "Official Account Unfollowed",
        "Menu Link Opened",
        "Menu Item Clicked",
        "QR Code Scanned",
        "Official Account Followed",
    ]
    assert {e["channel"] for e in entries} == {"wechat"}
    stored = {e.name: e for e in _events(db)}
    followed = stored["Official Account Followed"]
    assert '"scene":"store_42"' in followed.payload.replace(" ", "")
    # Events are not messages: no conversation was opened.
    listed = client.get("/api/v1/conversations", params={"channel": "wechat"}, headers=admin)
    assert listed.json()["items"] == []


@pytest.mark.parametrize("compatible", [False, True], ids=["safe", "compatible"])
def test_encrypted_callbacks_are_read_and_plaintext_refused(client, db, compatible):
    chat = create_wechat(db, aes=True)
    query, body = callback(text_xml("发票抬头写错了", 24_100_001), aes=True, compatible=compatible)
    answer = client.post(chat.path, params=query, content=body)
    assert answer.status_code == 200 and answer.text == "success", answer.text
    assert [m["text"] for m in _thread(client, db)] == ["发票抬头写错了"]
    # A channel with an AES key takes no plaintext: its signature does not cover the body.
    query, body = callback(text_xml("明文消息", 24_100_002))
    refused = client.post(chat.path, params=query, content=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "encryption_required"
    # A body encrypted right but signed with another token is forged.
    query, body = callback(text_xml("伪造的消息", 24_100_003), aes=True)
    query["msg_signature"] = sign("another-token", query["timestamp"], query["nonce"], "x")
    assert client.post(chat.path, params=query, content=body).status_code == 401
    assert len(_events(db)) == 1


def test_a_retry_is_a_no_op(client, db, chat):
    params = signed_params()
    xml = text_xml("在吗？", 24_200_001)
    for _ in range(3):  # WeChat retries with the same request when it got no answer
        assert post(client, chat, xml, params=params).text == "success"
    retried = text_xml("在吗？", 24_200_001)  # or with a new signature
    assert post(client, chat, retried).text == "success"
    event = event_xml("subscribe", created=int(time.time()))
    assert post(client, chat, event).text == "success"
    assert post(client, chat, event).text == "success"
    assert [e.message_id for e in _events(db)] == [
        "msg-24200001",
        f"event-{OPENID}-{int(event.split('<CreateTime>')[1].split('<')[0])}-subscribe",
    ]
    assert [m["text"] for m in _thread(client, db)] == ["在吗？"]


def test_forged_stale_and_replayed_signatures_are_refused_and_audited(client, db, chat):
    forged = signed_params()
    forged["signature"] = sign("guessed-token", forged["timestamp"], forged["nonce"])
    answer = post(client, chat, text_xml("伪造", 24_300_001), params=forged)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "signature_invalid"
    stale = signed_params(timestamp=int(time.time()) - 600)
    answer = post(client, chat, text_xml("过期", 24_300_002), params=stale)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "signature_stale"
    unsigned = client.post(chat.path, content=text_xml("无签名", 24_300_003).encode())
    assert unsigned.status_code == 401
    # A captured signature cannot carry another message (plaintext bodies are unsigned).
    captured = signed_params()
    assert post(client, chat, text_xml("原始消息", 24_300_004), params=captured).text == "success"
    replayed = post(client, chat, text_xml("转账给我", 24_300_005), params=captured)
    assert replayed.status_code == 403 and replayed.json()["error"]["code"] == "signature_replayed"
    assert [e.message_id for e in _events(db)] == ["msg-24300004"]
    reasons = sorted(e.detail for e in _refusals(db))
    assert len(reasons) == 4
    assert [r for r in reasons if '"replayed"' in r] and [r for r in reasons if '"stale"' in r]


def test_bad_bodies_get_a_clear_error_not_a_500(client, db, chat):
    cases = [
        b"not xml at all",
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "b">]><xml>&a;</xml>',
        b"<xml><MsgType>text</MsgType></xml>",  # no sender
        b"<xml>" + b"x" * 70_000 + b"</xml>",
    ]
    for body in cases:
        query, _ = callback("<xml/>")
        answer = client.post(chat.path, params=query, content=body)
        assert answer.status_code in (400, 413), (body[:40], answer.text)
        assert "error" in answer.json()
    assert _events(db) == []


def test_a_sender_never_seen_becomes_a_new_customer(client, db, chat):
    assert post(
        client, chat, text_xml("第一次咨询", 24_400_001, openid="oNewFollower0001")
    ).text == ("success")
    process(db)
    admin = _admin(db)
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wechat_openid", "value": "oNewFollower0001", "scope": APP_ID},
        headers=admin,
    )
    assert found.status_code == 200
    # The same openid in another app is another person (scoped by app id).
    other = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wechat_openid", "value": "oNewFollower0001", "scope": "wxOtherApp000001"},
        headers=admin,
    )
    assert other.status_code == 404


def test_a_member_bound_by_phone_writes_on_wechat_and_lands_on_their_customer(client, db, chat):
    """The seed scenario: the CRM (or the member centre) binds the openid to the member's
    phone with a Segment identify; the member's WeChat message joins their customer."""
    _, write_key = make_source(db, "member-centre")
    identify = {
        "userId": "M-20261207-0042",
        "traits": {"name": "王芳", "phone": "13800138000"},
        "context": {"externalIds": [{"type": "wechat_openid", "collection": APP_ID, "id": OPENID}]},
    }
    bound = client.post("/v1/identify", json=identify, auth=(write_key, ""))
    assert bound.status_code == 200, bound.text
    assert post(client, chat, text_xml("我的会员积分怎么查？", 24_500_001)).text == "success"
    process(db)
    admin = _admin(db)
    by_phone = client.get(
        "/api/v1/customers/lookup", params={"type": "phone", "value": "13800138000"}, headers=admin
    ).json()
    by_openid = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wechat_openid", "value": OPENID, "scope": APP_ID},
        headers=admin,
    ).json()
    assert by_phone["id"] == by_openid["id"]
    conversations = client.get("/api/v1/conversations", params={"channel": "wechat"}, headers=admin)
    [conversation] = conversations.json()["items"]
    assert conversation["customer_id"] == by_phone["id"]
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(EventRow)) == 2


def test_an_unknown_channel_or_a_web_chat_token_is_not_found(client, db, chat):
    with db.write() as session:
        webchat, _ = create_channel(
            session, "webchat", "官网客服", origins=["https://shop.example.cn"]
        )
        webchat_token = webchat.public_token
    query, body = callback(text_xml("你好", 24_600_001))
    for token in ("wx_nothing", webchat_token):
        answer = client.post(f"/wechat/callback/{token}", params=query, content=body)
        assert answer.status_code == 404, token
    assert _events(db) == []


def test_a_message_the_log_cannot_take_is_answered_503_and_the_retry_lands(client, db, chat):
    class Unavailable:  # the log failing, as a lost database or JetStream would
        async def append(self, events: Any) -> None:
            raise OSError("the log is unavailable")

        async def append_recorded(self, events: Any, record: Any) -> None:
            raise OSError("the log is unavailable")

        async def close(self) -> None:
            return None

    params = signed_params()
    working, client.app.state.event_log = client.app.state.event_log, Unavailable()
    try:
        failed = post(client, chat, text_xml("在线等", 24_700_001), params=params)
    finally:
        client.app.state.event_log = working
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "unavailable"
    # WeChat's retry (the same signed request) is taken: it is not a replay.
    assert post(client, chat, text_xml("在线等", 24_700_001), params=params).text == "success"
    assert [e.message_id for e in _events(db)] == ["msg-24700001"]
