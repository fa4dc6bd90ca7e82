"""Replies outside WeChat's 48-hour window, on SQLite and PostgreSQL: with a service
template configured they go out as a template message through the local stand-in for
WeChat's API (a real HTTP server checking the token and the body like WeChat), and the
thread says so; without one they are refused as before. The template's own errors are
refused for good, retried, or the token replaced, like the customer-service send."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from omnicx.channels.service import channel_by_id, channel_for_token
from omnicx.channels.wechat.models import WechatContact
from omnicx.channels.wechat.setup import create_wechat_channel
from omnicx.cli.main import app
from omnicx.core.time import utcnow
from omnicx.runtime.outbound import make_dispatcher
from tests.channels.wechat_helpers import (
    APP_ID,
    APP_SECRET,
    OPENID,
    TOKEN,
    Recorder,
    Wechat,
    post,
    text_xml,
)
from tests.channels.wechat_helpers import wechat_api as local_wechat_api
from tests.factories import make_token, process
from tests.web.console_scene import person, sign_in

TEMPLATE_ID = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"


@pytest.fixture
def wechat_api() -> Iterator[Recorder]:
    with local_wechat_api() as recorder:
        yield recorder


def _channel(db, api_base: str, **template: str) -> Wechat:
    with db.write() as session:
        channel = create_wechat_channel(
            session, "服务号", app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN,
            api_base=api_base, **template,
        )  # fmt: skip
        return Wechat(channel.id, channel.public_token, False)


class Thread:
    """A follower's conversation, seen by an admin through the desk's API."""

    def __init__(self, client: Any, db: Any, chat: Wechat):
        self.client, self.db, self.chat = client, db, chat
        self.headers = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
        self.msg_id = 26_000_000

    def customer_wrote(self, words: str, hours_ago: float = 0) -> None:
        self.msg_id += 1
        assert post(self.client, self.chat, text_xml(words, self.msg_id)).text == "success"
        process(self.db)
        if hours_ago:
            with self.db.write() as session:
                at = utcnow() - timedelta(hours=hours_ago)
                session.execute(update(WechatContact).values(last_interaction_at=at))

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
def thread(client, db, wechat_api) -> Thread:
    return Thread(client, db, _channel(db, wechat_api.url, service_template=TEMPLATE_ID))


def _dispatch(db, settings) -> int:
    return make_dispatcher(db, settings).dispatch_once()


def test_outside_the_window_the_reply_goes_out_as_the_template_message(
    thread, db, settings, wechat_api
):
    thread.customer_wrote("保修卡丢了还能保修吗？", hours_ago=60)
    thread.reply("可以的，凭购买记录即可保修。")
    assert _dispatch(db, settings) == 1
    assert wechat_api.sent == []  # not the customer-service API
    assert wechat_api.templates == [
        {
            "touser": OPENID,
            "template_id": TEMPLATE_ID,
            "data": {"content": {"value": "可以的，凭购买记录即可保修。"}},
        }
    ]
    [reply] = thread.replies("zh-CN")
    assert reply["delivery"] == "delivered"
    assert "模板消息" in reply["delivery_reason"]
    [english] = thread.replies("en")
    assert english["delivery_reason"].startswith("Sent as a WeChat template message")
    # The console's thread notes it in the agent's language.
    sign_in(thread.client, person(db, None, "admin"))
    path = f"/desk/conversations/{thread.conversation_id}/thread"
    shown = thread.client.get(path, headers={"HX-Request": "true", "Accept-Language": "zh-CN"})
    assert shown.status_code == 200 and "已作为微信模板消息发送" in shown.text
    # Within the window nothing changes: the customer-service API, no note.
    thread.customer_wrote("好的，谢谢")
    thread.reply("不客气！")
    _dispatch(db, settings)
    assert [m["text"]["content"] for m in wechat_api.sent] == ["不客气！"]
    assert len(wechat_api.templates) == 1
    assert [m["delivery_reason"] for m in thread.replies()][1] is None


def test_the_template_field_is_the_channel_s(client, db, settings, wechat_api):
    chat = _channel(db, wechat_api.url, service_template=TEMPLATE_ID, template_field="remark")
    thread = Thread(client, db, chat)
    thread.customer_wrote("快递到哪了？", hours_ago=49)
    thread.reply("已到达杭州转运中心。")
    _dispatch(db, settings)
    [sent] = wechat_api.templates
    assert sent["data"] == {"remark": {"value": "已到达杭州转运中心。"}}


def test_without_a_template_the_reply_is_refused_as_before(client, db, settings, wechat_api):
    thread = Thread(client, db, _channel(db, wechat_api.url))
    thread.customer_wrote("在吗？", hours_ago=49)
    thread.reply("在的。")
    _dispatch(db, settings)
    assert wechat_api.sent == [] and wechat_api.templates == []
    [reply] = thread.replies()
    assert reply["delivery"] == "refused"
    assert reply["delivery_reason"].startswith("WeChat takes replies only within 48 hours")


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_a_refused_token_is_replaced_and_the_template_sent(
    thread, db, settings, wechat_api, errcode
):
    thread.customer_wrote("发票开了吗？", hours_ago=50)
    thread.reply("已开具。")
    wechat_api.send_errors = [errcode]
    _dispatch(db, settings)
    assert len(wechat_api.refused_tokens) == 1 and len(wechat_api.tokens_issued) == 2
    assert [t["data"]["content"]["value"] for t in wechat_api.templates] == ["已开具。"]
    assert [m["delivery"] for m in thread.replies()] == ["delivered"]


@pytest.mark.parametrize(
    ("errcode", "reason"),
    [
        (43004, "The customer no longer follows the official account"),
        (40037, "WeChat does not know the channel's service template"),
        (48001, "This official account may not send template messages"),
    ],
)
def test_the_template_s_permanent_errors_refuse_the_reply(
    thread, db, settings, wechat_api, errcode, reason
):
    thread.customer_wrote("还有货吗？", hours_ago=72)
    wechat_api.send_errors = [errcode]
    thread.reply("有货，今天下单明天发。")
    _dispatch(db, settings)
    [reply] = thread.replies()
    assert reply["delivery"] == "refused" and reply["delivery_reason"].startswith(reason)
    [chinese] = thread.replies("zh-CN")
    assert chinese["delivery_reason"] != reply["delivery_reason"]  # translated
    assert _dispatch(db, settings) == 0 and wechat_api.templates == []  # never retried


def test_a_template_outage_is_retried_not_refused(thread, db, settings, wechat_api):
    thread.customer_wrote("你好", hours_ago=49)
    wechat_api.send_errors = [-1]  # "system busy"
    thread.reply("您好！")
    _dispatch(db, settings)
    [reply] = thread.replies()
    assert reply["delivery"] == "queued" and wechat_api.templates == []


def test_a_channel_s_template_from_the_command_line_and_the_api(client, db):
    base = ["channels", "create", "wechat", "--app-id", APP_ID, "--app-secret", APP_SECRET]
    base += ["--token", TOKEN]
    made = CliRunner().invoke(
        app, [*base, "--name", "服务号", "--service-template", TEMPLATE_ID, "--template-field",
              "keyword1"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    token = made.output.strip().rsplit("/", 1)[1]
    with db.read() as session:
        view = channel_by_id(session, channel_for_token(session, token, "wechat").id)
    assert view.settings["service_template"] == TEMPLATE_ID
    assert view.settings["template_field"] == "keyword1"
    bad = CliRunner().invoke(app, [*base, "--name", "另一个", "--service-template", "模板"])
    assert bad.exit_code == 1 and "error:" in bad.output
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    body = {"kind": "wechat", "name": "售后服务号", "app_id": APP_ID, "app_secret": APP_SECRET,
            "token": TOKEN, "service_template": TEMPLATE_ID}  # fmt: skip
    created = client.post("/api/v1/channels", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["service_template"] == TEMPLATE_ID
    for field, value in (("service_template", "a b"), ("template_field", "1st")):
        wrong = client.post(
            "/api/v1/channels", json={**body, "name": "另一个", field: value}, headers=admin
        )
        assert wrong.status_code == 400 and wrong.json()["error"]["field"] == field
