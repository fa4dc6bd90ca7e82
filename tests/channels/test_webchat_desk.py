"""Web chat through the desk, end to end on a live server (SQLite and PostgreSQL): a
visitor's message opens a conversation, an agent's reply goes out through the outbox and
the web chat adapter, reaches the visitor's socket, and the message reads ``delivered``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.channels.webchat_helpers import (
    Webchat,
    create_webchat,
    receive,
    receive_until,
    say,
    visitor,
)
from tests.live_server import eventually, live_server_on

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def chat(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Webchat]:
    with live_server_on(request.param, tmp_path_factory.mktemp("webchat-desk")) as server:
        yield create_webchat(server, "官网客服")


def test_a_visitor_and_an_agent_talk_through_the_desk(chat):
    api = chat.server.api()
    with visitor(chat) as ws:
        welcome = receive(ws)
        say(ws, "你好，空调遥控器失灵了")
        receive_until(ws, "ack")
        thread = f"v:{welcome['visitor_id']}"

        def conversation() -> dict[str, Any] | None:
            items = api.get("/api/v1/conversations", params={"channel": "webchat"}).json()["items"]
            return next((c for c in items if c["thread"] == thread), None)

        found = eventually(conversation)
        assert found is not None, "the visitor's message opened no conversation"
        sent = api.post(
            f"/api/v1/conversations/{found['id']}/messages",
            json={"kind": "reply", "text": "您好，请先更换遥控器电池试试。"},
        )
        assert sent.status_code == 201, sent.text
        pushed = receive_until(ws, "message", timeout=15)
        while pushed["direction"] != "out":
            pushed = receive_until(ws, "message", timeout=15)
    assert pushed["text"] == "您好，请先更换遥控器电池试试。"

    def delivered() -> bool:
        items = api.get(f"/api/v1/conversations/{found['id']}/messages").json()["items"]
        return [m["delivery"] for m in items if m["direction"] == "out"] == ["delivered"]

    assert eventually(delivered), "the reply never read as delivered"
