"""WeChat in production mode: PostgreSQL and the NATS JetStream event log, a live server
with its worker. A message WeChat posts three times (its retries) is one event on the
stream and in the events table and one message of the follower's conversation; the
agent's reply reaches the local stand-in for WeChat's API through the worker's
dispatcher; the worker's scheduler fetches the follower's unionid and puts it on the
stream."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.channels.webchat_helpers import logged_messages
from tests.channels.wechat_helpers import (
    APP_ID,
    APP_SECRET,
    OPENID,
    TOKEN,
    callback,
    text_xml,
    wechat_api,
)
from tests.live_server import eventually, live_server_on

pytestmark = pytest.mark.slow


def test_a_retried_message_and_a_reply_through_jetstream(tmp_path, nats_url, stream):
    settings = {"OMNICX_EVENT_LOG": nats_url, "OMNICX_NATS_STREAM": stream}
    with wechat_api() as recorder, live_server_on("postgres", tmp_path, settings) as server:
        out = server.cli(
            "channels", "create", "wechat", "--name", "生产服务号", "--app-id", APP_ID,
            "--app-secret", APP_SECRET, "--token", TOKEN, "--api-base", recorder.url,
            "--server-url", server.url,
        )  # fmt: skip
        recorder.unionids[OPENID] = "o6_bmasdasdsad6_2sgVt7hMZOPfL"
        url = out.strip().splitlines()[-1]
        assert re.fullmatch(rf"{server.url}/wechat/callback/wx_[\w-]+", url), out
        query, body = callback(text_xml("安装师傅什么时候到？", 27_000_001))
        for _ in range(3):
            answer = httpx.post(url, params=query, content=body, timeout=10)
            assert answer.status_code == 200 and answer.text == "success", answer.text
        events = eventually(lambda: logged_messages(server, "msg-27000001"))
        assert len(events) == 1 and events[0]["properties"]["thread"] == OPENID
        api = server.api()

        def conversation() -> dict[str, Any] | None:
            found = api.get("/api/v1/conversations", params={"channel": "wechat"}).json()
            return next((c for c in found["items"] if c["thread"] == OPENID), None)

        opened = eventually(conversation)
        messages = api.get(f"/api/v1/conversations/{opened['id']}/messages").json()["items"]
        assert [m["text"] for m in messages] == ["安装师傅什么时候到？"]
        sent = api.post(
            f"/api/v1/conversations/{opened['id']}/messages",
            json={"kind": "reply", "text": "师傅下午两点前到。"},
        )
        assert sent.status_code == 201, sent.text
        eventually(lambda: recorder.sent)
        assert recorder.sent == [
            {"touser": OPENID, "msgtype": "text", "text": {"content": "师傅下午两点前到。"}}
        ]
        # The unionid reached identity through the stream: the openid's customer has it.

        def by_unionid() -> int | None:
            found = api.get(
                "/api/v1/customers/lookup",
                params={"type": "wechat_unionid", "value": "o6_bmasdasdsad6_2sgVt7hMZOPfL"},
            )
            return int(found.json()["id"]) if found.status_code == 200 else None

        customer = eventually(by_unionid)
        by_openid = api.get(
            "/api/v1/customers/lookup",
            params={"type": "wechat_openid", "value": OPENID, "scope": APP_ID},
        )
        assert by_openid.json()["id"] == customer and recorder.user_info_asked == [OPENID]
