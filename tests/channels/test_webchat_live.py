"""Web chat against a live ``omnicx serve`` (SQLite and PostgreSQL) with a real WebSocket
client: messages land on the log, retries are no-ops, forged users and foreign origins are
refused, floods are limited, replies queued in the outbox reach the socket, and a visitor
who comes back sees their own thread and nothing else."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from omnicx.channels.webchat.signatures import user_hash
from omnicx.governance.models import AuditEntry
from tests.channels.webchat_helpers import (
    Webchat,
    create_webchat,
    customer_of,
    logged_messages,
    queue_reply,
    receive,
    receive_until,
    record_reply,
    say,
    server_database,
    transcript,
    visitor,
)
from tests.live_server import live_server_on

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def chat(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Webchat]:
    with live_server_on(request.param, tmp_path_factory.mktemp("webchat")) as server:
        yield create_webchat(server, "官网在线客服")


def _closed_with(ws, code: int) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


def test_a_vouched_visitor_message_lands_on_the_log_with_identifiers_and_channel(chat):
    signature = user_hash(chat.secret, "crm-10086")
    with visitor(chat, user_id="crm-10086", user_hash=signature, lang="zh-CN") as ws:
        welcome = receive(ws)
        assert welcome["type"] == "welcome" and welcome["signed_in"] and welcome["history"] == []
        profile = {"name": "王芳", "phone": "13800138000", "email": "wang.fang@example.cn"}
        client_id = say(ws, "你好，我的订单什么时候发货？", profile=profile)
        ack = receive_until(ws, "ack")
    assert ack["client_id"] == client_id
    [event] = logged_messages(chat.server, ack["message_id"])
    assert event["type"] == "track" and event["name"] == "Message Received"
    assert event["event"] == "Message Received"
    assert event["anonymousId"] == welcome["visitor_id"]
    assert event["userId"] == "crm-10086"
    assert event["context"]["traits"] == profile
    assert event["properties"] == {
        "channel": "webchat",
        "channel_id": chat.channel_id,
        "thread": "u:crm-10086",
        "text": "你好，我的订单什么时候发货？",
        "message_id": ack["message_id"],
        "attachments": [],
    }


def test_a_retried_message_is_stored_once(chat):
    with visitor(chat) as ws:
        receive(ws)
        client_id = say(ws, "请问可以开发票吗？")
        first = receive_until(ws, "ack")
        say(ws, "请问可以开发票吗？", client_id=client_id)
        again = receive_until(ws, "ack")
    assert first["message_id"] == again["message_id"]
    assert len(logged_messages(chat.server, first["message_id"])) == 1
    lines = [
        line for line in transcript(chat.server, chat.channel_id) if line[2] == first["message_id"]
    ]
    assert len(lines) == 1


def _refusals(chat: Webchat) -> list[AuditEntry]:
    with server_database(chat.server) as db, db.read() as session:
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "channel.refused")
                .where(AuditEntry.target_id == str(chat.channel_id))
                .order_by(AuditEntry.id)
            )
        )
        session.expunge_all()
        return rows


@pytest.mark.parametrize(
    "claim",
    [
        {"user_id": "crm-10086", "user_hash": "0" * 64},  # forged
        {"user_id": "crm-10086"},  # unsigned
        {"user_id": "crm-10087", "user_hash": "SIGNATURE-OF-10086"},  # another user's
    ],
)
def test_an_unsigned_or_forged_user_is_refused_and_nothing_is_logged(chat, claim):
    if claim.get("user_hash") == "SIGNATURE-OF-10086":
        claim = {**claim, "user_hash": user_hash(chat.secret, "crm-10086")}
    audited = len(_refusals(chat))
    with visitor(chat, lang="en", **claim) as ws:
        error = receive(ws)
        assert error["type"] == "error" and error["code"] == "identity_refused"
        assert "confirm who you are" in error["message"]
        _closed_with(ws, 4401)
    # Audited like any channel's refused caller, with the address it came from.
    refusals = _refusals(chat)
    assert len(refusals) == audited + 1
    assert '"user_hash"' in refusals[-1].detail and refusals[-1].ip == "127.0.0.1"
    assert all(
        line[0] != f"u:{claim['user_id']}" or claim["user_id"] == "crm-10086"
        for line in transcript(chat.server, chat.channel_id)
    )


@pytest.mark.parametrize("origin", ["https://evil.example.com", "http://shop.example.cn", None])
def test_a_page_on_another_origin_is_refused(chat, origin):
    with visitor(chat, origin=origin, lang="zh-CN") as ws:
        error = receive(ws)
        assert error["code"] == "origin_not_allowed"
        assert error["message"] == "此网站无法使用该在线客服。"
        _closed_with(ws, 4403)


def test_an_unknown_channel_token_is_refused(chat):
    forged = Webchat(chat.server, "wc_not-a-channel", chat.secret, chat.channel_id)
    with visitor(forged) as ws:
        assert receive(ws)["code"] == "unknown_channel"
        _closed_with(ws, 4404)


def test_a_flood_from_one_visitor_gets_rate_limit_error_frames(chat):
    with visitor(chat, lang="zh-CN") as ws:
        receive(ws)
        for n in range(8):
            say(ws, f"第{n}条消息")
        frames: list[dict] = []
        # The visitor's own lines also come back as "message" frames: keep only the answers.
        while len(frames) < 8:
            frame = receive(ws)
            if frame["type"] in ("ack", "error"):
                frames.append(frame)
    limited = [f for f in frames if f["type"] == "error" and f["code"] == "rate_limited"]
    acked = [f for f in frames if f["type"] == "ack"]
    assert len(acked) == 5 and len(limited) == 3
    assert limited[0]["message"] == "您发送消息过于频繁，请稍候再试。"


def test_a_message_over_4000_characters_is_refused(chat):
    with visitor(chat) as ws:
        receive(ws)
        client_id = say(ws, "长" * 4001)
        error = receive_until(ws, "error")
    assert error["code"] == "message_too_long" and error["client_id"] == client_id
    assert logged_messages(chat.server, f"{client_id}") == []


def test_an_outbox_reply_reaches_the_socket_and_a_returning_visitor_sees_the_thread(chat):
    with visitor(chat) as ws:
        welcome = receive(ws)
        say(ws, "我想退货，怎么操作？")
        asked = receive_until(ws, "ack")
        customer_id = customer_of(chat.server, "anonymous_id", welcome["visitor_id"])
        queued_at = time.monotonic()
        reply_id = queue_reply(
            chat.server,
            chat,
            f"v:{welcome['visitor_id']}",
            "您好，请在订单页点击“申请退货”。",
            customer_id,
        )
        pushed = receive_until(ws, "message", timeout=10)
        while pushed["message_id"] != reply_id:
            pushed = receive_until(ws, "message", timeout=10)
        took = time.monotonic() - queued_at
    assert pushed["direction"] == "out" and pushed["author_name"] == "客服小李"
    assert pushed["text"] == "您好，请在订单页点击“申请退货”。"
    # The dispatcher polls every 0.5 s when idle, the follower every 0.2 s.
    assert took < 3.0, f"the reply took {took:.2f}s to reach the socket"

    with visitor(chat, visitor=welcome["visitor"]) as ws:
        back = receive(ws)
    assert back["visitor_id"] == welcome["visitor_id"]
    assert [(m["direction"], m["message_id"]) for m in back["history"]] == [
        ("in", asked["message_id"]),
        ("out", reply_id),
    ]

    # Someone else, and someone who edits the stored id, see nothing of that thread.
    tampered = welcome["visitor"][:-4] + (
        "0000" if not welcome["visitor"].endswith("0000") else "1111"
    )
    for token in (None, tampered):
        with visitor(chat, **({"visitor": token} if token else {})) as ws:
            other = receive(ws)
        assert other["visitor_id"] != welcome["visitor_id"]
        assert other["history"] == []


def test_a_line_written_by_another_process_reaches_the_socket_well_under_a_second(chat):
    """The follower's promise (docs/channels.md): transcript to socket in ~250 ms at most."""
    delays = []
    with visitor(chat) as ws:
        welcome = receive(ws)
        thread = f"v:{welcome['visitor_id']}"
        for n in range(20):
            message_id = f"latency-{welcome['visitor_id']}-{n}"
            written = time.monotonic()
            record_reply(chat.server, chat.channel_id, thread, message_id, f"第{n}条回复")
            frame = receive_until(ws, "message")
            delays.append(time.monotonic() - written)
            assert frame["message_id"] == message_id
    delays.sort()
    assert delays[-1] < 0.6, f"slowest of 20: {delays[-1]:.3f}s (median {delays[10]:.3f}s)"
