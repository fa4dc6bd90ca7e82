"""Agents' replies to WeChat followers, on SQLite and PostgreSQL: through the desk, the
outbox and the customer-service API of a local stand-in for WeChat (a real HTTP server
that checks the access token and the message like WeChat does); the access token shared
through the database and replaced when refused; the 48-hour window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from omnicx.channels.wechat.models import WechatContact
from omnicx.core.scheduler import Registry, Runner
from omnicx.core.time import utcnow
from omnicx.governance.models import AuditEntry
from omnicx.runtime.outbound import make_dispatcher
from omnicx.runtime.scheduling import wire_jobs
from tests.channels.wechat_helpers import (
    OPENID,
    Recorder,
    Wechat,
    create_wechat,
    message_xml,
    post,
    text_xml,
)
from tests.channels.wechat_helpers import wechat_api as local_wechat_api
from tests.desk.factories import make_agent
from tests.factories import make_token, process
from tests.web.console_scene import person, sign_in


@pytest.fixture
def wechat_api() -> Iterator[Recorder]:
    with local_wechat_api() as recorder:
        yield recorder


@pytest.fixture
def chat(db, wechat_api) -> Wechat:
    return create_wechat(db, api_base=wechat_api.url)


class Thread:
    """A follower's conversation, seen by an admin through the desk's API."""

    def __init__(self, client: Any, db: Any, chat: Wechat):
        self.client, self.db, self.chat = client, db, chat
        self.headers = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
        self.msg_id = 25_000_000

    def customer_writes(self, words: str) -> None:
        self.msg_id += 1
        assert post(self.client, self.chat, text_xml(words, self.msg_id)).text == "success"
        process(self.db)

    @property
    def conversation_id(self) -> int:
        found = self.client.get(
            "/api/v1/conversations", params={"channel": "wechat"}, headers=self.headers
        ).json()["items"]
        return int(next(c["id"] for c in found if c["thread"] == OPENID))

    def reply(self, words: str) -> None:
        sent = self.client.post(
            f"/api/v1/conversations/{self.conversation_id}/messages",
            json={"kind": "reply", "text": words},
            headers=self.headers,
        )
        assert sent.status_code == 201, sent.text

    def replies(self, language: str = "en") -> list[dict[str, Any]]:
        items = self.client.get(
            f"/api/v1/conversations/{self.conversation_id}/messages",
            headers={**self.headers, "Accept-Language": language},
        ).json()["items"]
        return [m for m in items if m["direction"] == "out"]


@pytest.fixture
def thread(client, db, chat) -> Thread:
    return Thread(client, db, chat)


def _dispatch(db, settings) -> int:
    return make_dispatcher(db, settings).dispatch_once()


def test_a_reply_reaches_the_follower_and_reads_delivered(thread, db, settings, wechat_api):
    thread.customer_writes("空调外机噪音很大")
    thread.reply("您好，师傅明天上午联系您上门检查。")
    assert [m["delivery"] for m in thread.replies()] == ["queued"]
    assert _dispatch(db, settings) == 1
    assert wechat_api.sent == [
        {
            "touser": OPENID,
            "msgtype": "text",
            "text": {"content": "您好，师傅明天上午联系您上门检查。"},
        }
    ]
    [reply] = thread.replies()
    assert reply["delivery"] == "delivered" and reply["delivery_reason"] is None
    # The token is kept for every process, encrypted: the next reply fetches none.
    thread.reply("请问您方便的时间是？")
    _dispatch(db, settings)
    assert len(wechat_api.sent) == 2 and len(wechat_api.tokens_issued) == 1
    with db.read() as session:
        stored = session.execute(text("SELECT token FROM wechat_access_tokens")).scalar_one()
    assert stored.startswith("v1.") and wechat_api.tokens_issued[0] not in stored


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_a_refused_token_is_replaced_and_the_reply_sent(thread, db, settings, wechat_api, errcode):
    thread.customer_writes("发票什么时候开？")
    thread.reply("今天下班前开具。")
    _dispatch(db, settings)
    first = wechat_api.tokens_issued[0]
    wechat_api.send_errors = [errcode]  # WeChat invalidated the token meanwhile
    thread.reply("已开具，请查收邮箱。")
    _dispatch(db, settings)
    assert wechat_api.refused_tokens == [first] and len(wechat_api.tokens_issued) == 2
    assert [m["text"]["content"] for m in wechat_api.sent] == [
        "今天下班前开具。",
        "已开具，请查收邮箱。",
    ]
    assert [m["delivery"] for m in thread.replies()] == ["delivered", "delivered"]


def test_outside_the_48_hour_window_a_reply_is_refused_with_a_reason(
    thread, db, settings, wechat_api
):
    thread.customer_writes("退货地址是哪里？")
    with db.write() as session:
        session.execute(
            update(WechatContact).values(last_interaction_at=utcnow() - timedelta(hours=49))
        )
    thread.reply("退货地址：上海市浦东新区张江路 88 号。")
    _dispatch(db, settings)
    assert wechat_api.sent == [] and wechat_api.tokens_issued == []  # nothing was tried
    [reply] = thread.replies("zh-CN")
    assert reply["delivery"] == "refused"
    assert "48 小时" in reply["delivery_reason"]
    [english] = thread.replies("en")
    assert english["delivery_reason"].startswith("WeChat takes replies only within 48 hours")
    with db.read() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "outbox.refused"))
        assert ["48 hours" in entry.detail for entry in audited] == [True]
    # The console's thread says it too, in the agent's language.
    sign_in(thread.client, person(db, None, "admin"))
    path = f"/desk/conversations/{thread.conversation_id}/thread"
    shown = thread.client.get(path, headers={"HX-Request": "true", "Accept-Language": "zh-CN"})
    assert shown.status_code == 200 and 'class="delivery-reason"' in shown.text
    assert "微信只允许在客户最后一条消息后的 48 小时内回复" in shown.text
    # Once the customer writes again, the next reply goes out.
    thread.customer_writes("还在吗？")
    thread.reply("在的，地址已发您。")
    _dispatch(db, settings)
    assert [m["text"]["content"] for m in wechat_api.sent] == ["在的，地址已发您。"]


def test_wechat_s_own_window_refusal_is_final_too(thread, db, settings, wechat_api):
    thread.customer_writes("你好")
    wechat_api.send_errors = [45015]  # "response out of time limit"
    thread.reply("您好，请问有什么可以帮您？")
    _dispatch(db, settings)
    [reply] = thread.replies()
    assert reply["delivery"] == "refused" and "48 hours" in reply["delivery_reason"]
    assert _dispatch(db, settings) == 0  # never retried


def test_a_wechat_outage_is_retried_not_refused(thread, db, settings, wechat_api):
    thread.customer_writes("你好")
    wechat_api.send_errors = [-1]  # "system busy"
    thread.reply("您好！")
    _dispatch(db, settings)
    [reply] = thread.replies()
    assert reply["delivery"] == "queued" and wechat_api.sent == []


def test_media_a_follower_sends_are_fetched_into_the_attachment_store(
    thread, client, db, settings, wechat_api
):
    photo = _png()
    wechat_api.media["MEDIA_PHOTO"] = (photo, "image/png")
    sent = [
        message_xml("image", PicUrl="http://mmbiz.qpic.cn/p.png", MediaId="MEDIA_PHOTO"),
        message_xml("image", PicUrl="http://mmbiz.qpic.cn/q.png", MediaId="MEDIA_EXPIRED"),
        message_xml("location", Location_X="31.2", Location_Y="121.4", Scale="15", Label="家"),
    ]
    for msg_id, xml in enumerate(sent, start=25_100_001):
        signed = xml.replace("</xml>", f"<MsgId>{msg_id}</MsgId></xml>")
        assert post(client, thread.chat, signed).text == "success"
    process(db)
    # The callback only scheduled the fetches (and, for a new follower, their user info:
    # test_wechat_unionid.py); a worker's scheduler runs them.
    assert Runner(db, wire_jobs(settings, Registry())).run_until_idle() == 3
    assert wechat_api.tokens_issued  # fetched with the account's token
    items = client.get(
        f"/api/v1/conversations/{thread.conversation_id}/messages", headers=thread.headers
    ).json()["items"]
    kept, gone, place = (m["attachments"] for m in items)
    assert kept[0]["media_id"] == "MEDIA_PHOTO" and kept[0]["type"] == "image"
    [stored] = kept[1:]
    assert stored["type"] == "image/png" and stored["size"] == len(photo)
    file = client.get(f"/api/v1/attachments/{stored['id']}", headers=thread.headers)
    assert file.status_code == 200 and file.content == photo
    # WeChat no longer had the other one: its metadata stays, nothing was stored.
    assert [a["media_id"] for a in gone] == ["MEDIA_EXPIRED"]
    assert place == [
        {"type": "location", "latitude": "31.2", "longitude": "121.4", "scale": "15", "label": "家"}
    ]
    # An agent outside the conversation's team cannot read the file.
    _, outsider = make_agent(db, "其他团队")
    hidden = client.get(
        f"/api/v1/attachments/{stored['id']}", headers={"Authorization": f"Bearer {outsider}"}
    )
    assert hidden.status_code == 404


def _png() -> bytes:
    """A real 1×1 PNG (the store detects the type from the bytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
