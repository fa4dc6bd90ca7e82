"""Files in web chat, through the app's own HTTP routes and WebSocket (SQLite and
PostgreSQL): a visitor's file reaches the agent's conversation, an agent's file reaches
the visitor's thread as a signed link only that thread gets; uploads are admitted like
the socket (origin, signed visitor, rate limits) and refused in the visitor's language;
erasure takes the files with the person."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from omnicx.channels.service import create_channel
from omnicx.channels.webchat.signatures import user_hash
from omnicx.channels.webchat.transcript import thread_history
from omnicx.core.eventlog.models import EventRow
from omnicx.core.serialization import loads
from omnicx.desk.attachments.models import Attachment
from omnicx.runtime.outbound import make_dispatcher
from tests.desk import files
from tests.desk.factories import conversations, make_agent, make_rule, messages
from tests.factories import make_token, process

SHOP = "https://shop.example.cn"
MAX_BYTES = 64 * 1024


@pytest.fixture(autouse=True)
def small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 64 KB limit, read by the settings every test of this module starts with."""
    monkeypatch.setenv("OMNICX_ATTACHMENT_MAX_BYTES", str(MAX_BYTES))


@pytest.fixture
def chat(db) -> dict[str, Any]:
    with db.write() as session:
        channel, secret = create_channel(
            session, "webchat", "官网客服", origins=[SHOP], identity_secret=True
        )
        return {"id": channel.id, "token": channel.public_token, "secret": secret}


def _welcome(client, chat: dict[str, Any], **params: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in {"token": chat["token"], **params}.items())
    with client.websocket_connect(f"/widget/ws?{query}", headers={"origin": SHOP}) as ws:
        return ws.receive_json()


def _send(client, chat, visitor: str, name: str, data: bytes, lang: str = "zh-CN"):
    """What the widget posts: the file and a client id, with the socket's parameters."""
    return client.post(
        "/widget/attachments",
        params={"token": chat["token"], "visitor": visitor, "lang": lang},
        data={"client_id": uuid.uuid4().hex},
        files={"file": (name, data, "application/octet-stream")},
        headers={"origin": SHOP},
    )


def _download(client, url: str):
    assert url.startswith("/widget/attachments/")
    return client.get(url)


def test_a_visitors_file_reaches_the_agent_and_the_agents_file_the_visitor(
    client, db, settings, chat
):
    _, agent_token = make_agent(db, "售后服务")
    make_rule(db, "售后服务")
    welcome = _welcome(client, chat, lang="zh-CN")
    assert welcome["max_file_bytes"] == MAX_BYTES and "image/png" in welcome["file_types"]
    photo = files.png()
    sent = _send(client, chat, welcome["visitor"], "漏水照片.png", photo)
    assert sent.status_code == 201, sent.text
    assert sent.headers["access-control-allow-origin"] == SHOP
    ack = sent.json()
    [mine] = ack["attachments"]
    assert (mine["name"], mine["type"], mine["size"]) == ("漏水照片.png", "image/png", len(photo))
    assert _download(client, mine["url"]).content == photo

    # On the log as a message with its file, and placed by the desk in a conversation.
    with db.read() as session:
        payload = session.scalars(
            select(EventRow.payload).where(EventRow.message_id == ack["message_id"])
        ).one()
    listed = {k: mine[k] for k in ("id", "name", "type", "size")}
    assert loads(payload)["properties"]["attachments"] == [listed]
    process(db)
    [conversation] = conversations(db)
    assert loads(messages(db, conversation.id)[0].attachments) == [listed]
    agent = {"Authorization": f"Bearer {agent_token}"}
    assert client.get(f"/api/v1/attachments/{mine['id']}", headers=agent).content == photo

    # The agent answers with a PDF; the dispatcher puts it in the visitor's thread.
    invoice = files.pdf()
    uploaded = client.post(
        f"/api/v1/conversations/{conversation.id}/attachments",
        files={"file": ("发票.pdf", invoice, "application/pdf")},
        headers=agent,
    )
    assert uploaded.status_code == 201, uploaded.text
    reply = client.post(
        f"/api/v1/conversations/{conversation.id}/messages",
        json={"text": "您好，发票请查收。", "attachment_ids": [uploaded.json()["id"]]},
        headers=agent,
    )
    assert reply.status_code == 201, reply.text
    assert make_dispatcher(db, settings).dispatch_once() == 1
    again = _welcome(client, chat, visitor=welcome["visitor"], lang="zh-CN")
    inbound, outbound = again["history"]
    assert inbound["attachments"][0]["id"] == mine["id"]
    assert outbound["text"] == "您好，发票请查收。"
    [theirs] = outbound["attachments"]
    assert theirs["name"] == "发票.pdf" and theirs["type"] == "application/pdf"
    got = _download(client, theirs["url"])
    assert got.status_code == 200 and got.content == invoice
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith('attachment; filename="')


def test_a_link_is_good_only_for_its_file_and_until_it_expires(client, db, chat):
    welcome = _welcome(client, chat)
    first = _send(client, chat, welcome["visitor"], "a.png", files.png()).json()
    second = _send(client, chat, welcome["visitor"], "b.pdf", files.pdf()).json()
    url = first["attachments"][0]["url"]
    assert _download(client, url).status_code == 200
    other_id = second["attachments"][0]["id"]
    # Another file's id with this file's signature: another visitor's file is out of reach.
    swapped = re.sub(r"/widget/attachments/\d+", f"/widget/attachments/{other_id}", url)
    assert _download(client, swapped).status_code == 404
    expired = re.sub(r"expires=\d+", f"expires={int(time.time()) - 1}", url)
    assert _download(client, expired).status_code == 404
    forged = re.sub(r"signature=\w+", "signature=" + "0" * 32, url)
    assert _download(client, forged).status_code == 404


def test_uploads_are_admitted_like_the_socket(client, db, chat):
    welcome = _welcome(client, chat)
    image = files.png()
    params = {"token": chat["token"], "visitor": welcome["visitor"], "lang": "zh-CN"}

    def post(headers: dict[str, str], **changes: str):
        return client.post(
            "/widget/attachments",
            params={**params, **changes},
            data={"client_id": uuid.uuid4().hex},
            files={"file": ("a.png", image, "image/png")},
            headers=headers,
        )

    other_site = post({"origin": "https://evil.example.com"})
    assert other_site.status_code == 403
    assert "access-control-allow-origin" not in other_site.headers
    assert post({}).status_code == 403  # no Origin: not from a browser on the site
    assert post({"origin": SHOP}, token="wc_unknown").status_code == 404
    unsigned = post({"origin": SHOP}, visitor="wv_" + "a" * 24 + ".forged")
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["code"] == "identity_refused"
    pretender = post({"origin": SHOP}, user_id="member-1", user_hash="0" * 64)
    assert pretender.status_code == 401
    vouched = post(
        {"origin": SHOP}, user_id="member-1", user_hash=user_hash(chat["secret"], "member-1")
    )
    assert vouched.status_code == 201, vouched.text
    with db.read() as session:
        assert [a.thread for a in session.scalars(select(Attachment))] == ["u:member-1"]


def test_refusals_are_told_in_the_visitors_language(client, db, chat):
    visitor = _welcome(client, chat)["visitor"]
    big = _send(client, chat, visitor, "大照片.pdf", files.pdf("x" * MAX_BYTES))
    assert big.status_code == 413
    assert big.json()["error"]["message"] == "文件超过 64 KB 的大小上限"
    assert big.headers["access-control-allow-origin"] == SHOP
    english = _send(client, chat, visitor, "big.pdf", files.pdf("x" * MAX_BYTES), lang="en")
    assert english.json()["error"]["message"] == "the file is larger than the 64 KB limit"
    program = _send(client, chat, visitor, "照片.png", files.windows_program())
    assert program.status_code == 415
    assert program.json()["error"]["message"].startswith("无法发送此类文件")
    with db.read() as session:
        assert session.scalars(select(Attachment)).all() == []
        assert (
            session.scalar(select(EventRow.seq).where(EventRow.name == "Message Received")) is None
        )


def test_a_visitor_sending_files_too_fast_is_slowed_down(client, db, chat):
    visitor = _welcome(client, chat)["visitor"]
    limits = client.app.state.webchat_limits
    for bucket in (limits.ip_uploads, limits.visitor_messages, limits.ip_messages):
        bucket.per_second = 0.0  # no refill while the test runs, however slow the machine
    answers = [_send(client, chat, visitor, "照片.png", files.png()).status_code for _ in range(6)]
    assert answers == [201] * 5 + [429]
    slowed = _send(client, chat, visitor, "照片.png", files.png())
    assert slowed.json()["error"]["message"] == "您发送消息过于频繁，请稍候再试。"
    # Another visitor on the same network still gets through, up to the address's uploads.
    other = _welcome(client, chat)["visitor"]
    answers = [_send(client, chat, other, "照片.png", files.png()).status_code for _ in range(5)]
    assert answers == [201] * 3 + [429] * 2  # 10 uploads per address in a burst


def test_erasure_takes_the_visitors_files(client, db, chat):
    welcome = _welcome(client, chat)
    sent = _send(client, chat, welcome["visitor"], "身份证.png", files.png()).json()
    process(db)
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "anonymous_id", "value": welcome["visitor_id"]},
        headers=admin,
    )
    body = {"kind": "erase", "customer_id": found.json()["id"], "reason": "本人申请删除"}
    erased = client.post("/api/v1/privacy/requests", json=body, headers=admin)
    assert erased.status_code == 201, erased.text
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM desk_attachments")).scalar() == 0
    assert _download(client, sent["attachments"][0]["url"]).status_code == 404
    with db.read() as session:
        assert thread_history(session, chat["id"], f"v:{welcome['visitor_id']}") == []
