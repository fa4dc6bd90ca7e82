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
from omnicx.core.time import utcnow
from omnicx.governance.models import AuditEntry
from omnicx.runtime.outbound import make_dispatcher
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


def test_an_agent_opens_a_photo_the_follower_sent(thread, client, db, wechat_api):
    photo = b"\xff\xd8\xff\xe0JFIF-" + bytes(range(256)) * 4
    wechat_api.media["MEDIA_PHOTO"] = (photo, "image/jpeg")
    for msg_id, xml in enumerate(
        [
            message_xml("image", PicUrl="http://mmbiz.qpic.cn/p.jpg", MediaId="MEDIA_PHOTO"),
            message_xml("image", PicUrl="http://mmbiz.qpic.cn/q.jpg", MediaId="MEDIA_EXPIRED"),
            message_xml("location", Location_X="31.2", Location_Y="121.4", Scale="15", Label="家"),
        ],
        start=25_100_001,
    ):
        assert (
            post(client, thread.chat, xml.replace("</xml>", f"<MsgId>{msg_id}</MsgId></xml>")).text
            == "success"
        )
    process(db)
    items = client.get(
        f"/api/v1/conversations/{thread.conversation_id}/messages", headers=thread.headers
    ).json()["items"]
    base = f"/api/v1/conversations/{thread.conversation_id}/messages"
    opened = client.get(f"{base}/{items[0]['id']}/attachments/0", headers=thread.headers)
    assert opened.status_code == 200 and opened.content == photo
    assert opened.headers["content-type"] == "image/jpeg"
    expired = client.get(f"{base}/{items[1]['id']}/attachments/0", headers=thread.headers)
    assert expired.status_code == 404 and "3 days" in expired.json()["error"]["message"]
    place = client.get(f"{base}/{items[2]['id']}/attachments/0", headers=thread.headers)
    assert place.status_code == 404
    assert (
        client.get(f"{base}/{items[0]['id']}/attachments/1", headers=thread.headers).status_code
        == 404
    )
    # An agent outside the conversation's team does not learn it exists.
    _, outsider = make_agent(db, "其他团队")
    hidden = client.get(
        f"{base}/{items[0]['id']}/attachments/0", headers={"Authorization": f"Bearer {outsider}"}
    )
    assert hidden.status_code == 404
