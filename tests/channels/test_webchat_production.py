"""Web chat in production mode: PostgreSQL and the NATS JetStream event log. A visitor's
message (sent twice) is one event on the stream and in the events table, and a reply
queued in the outbox reaches the socket."""

from __future__ import annotations

import time

import pytest

from tests.channels.webchat_helpers import (
    create_webchat,
    customer_of,
    logged_messages,
    queue_reply,
    receive,
    receive_until,
    say,
    visitor,
)
from tests.live_server import live_server_on

pytestmark = pytest.mark.slow


def test_a_message_through_jetstream_and_a_reply_back(tmp_path, nats_url, stream):
    settings = {"OMNICX_EVENT_LOG": nats_url, "OMNICX_NATS_STREAM": stream}
    with live_server_on("postgres", tmp_path, settings) as server:
        chat = create_webchat(server, "生产环境客服")
        with visitor(chat, lang="zh-CN") as ws:
            welcome = receive(ws)
            client_id = say(ws, "发票抬头写错了，可以重开吗？")
            ack = receive_until(ws, "ack")
            say(ws, "发票抬头写错了，可以重开吗？", client_id=client_id)
            assert receive_until(ws, "ack")["message_id"] == ack["message_id"]
            customer_id = customer_of(server, "anonymous_id", welcome["visitor_id"])
            reply_id = queue_reply(
                server, chat, f"v:{welcome['visitor_id']}", "可以，已为您重开。", customer_id
            )
            while (frame := receive_until(ws, "message", timeout=10))["message_id"] != reply_id:
                pass
        assert frame["text"] == "可以，已为您重开。"
        deadline = time.monotonic() + 10
        while not (events := logged_messages(server, ack["message_id"])):
            assert time.monotonic() < deadline, "the event never reached the events table"
            time.sleep(0.2)
        assert len(events) == 1 and events[0]["properties"]["channel_id"] == chat.channel_id
