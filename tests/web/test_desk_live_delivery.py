"""A reply's delivery outcome reaches the agent's ``/desk/live`` stream, against a live
``omnicx serve`` (SQLite and PostgreSQL) whose outbox dispatcher runs in its child
``omnicx worker`` process: a web chat visitor writes in through the real socket, the
agent replies through the API, and when the worker delivers the reply (or the consent
gate refuses it) the stream names the conversation again, and the thread reads the
outcome. The other team's agent hears nothing of it.

To tell the delivery's announcement apart from the reply's own, the worker is paused
(SIGSTOP, as a busy worker would be late) while the reply is posted and its event read,
and resumed (SIGCONT) afterwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.channels.webchat_helpers import Webchat, create_webchat, receive, receive_until, say
from tests.channels.webchat_helpers import visitor as visitor_socket
from tests.live_server import LiveServer, live_server_on
from tests.web.desk_live_helpers import (
    AFTER_SALES,
    INVOICES,
    conversation_of,
    event_stream,
    ids_until,
    signed_in,
    staff,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def chat(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Webchat]:
    home = tmp_path_factory.mktemp("desk-live-delivery")
    with live_server_on(request.param, home) as live:
        staff(live)
        yield create_webchat(live, "官网在线客服")


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the server's ``omnicx worker``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@contextmanager
def worker_paused(server: LiveServer) -> Iterator[None]:
    assert server.process is not None
    workers = _children(server.process.pid)
    assert workers, "the server runs no worker child"
    for _ in range(100):
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        if not _holds_write_lock(server):
            break
        # Stopped inside a write transaction: the API's writes would wait for it. Let it
        # finish and stop it again.
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.02)
    else:
        raise AssertionError("the worker never left its write transactions")
    try:
        yield
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)


def _holds_write_lock(server: LiveServer) -> bool:
    """Whether someone holds SQLite's write lock now (PostgreSQL has none to hold)."""
    if not server.database_url.startswith("sqlite"):
        return False
    path = server.database_url.removeprefix("sqlite:///")
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def _visitor_conversation(chat: Webchat, text: str) -> dict[str, Any]:
    with visitor_socket(chat) as ws:
        welcome = receive(ws)
        say(ws, text)
        receive_until(ws, "ack")
    return conversation_of(chat.server, f"v:{welcome['visitor_id']}")


def _reply_delivery(server: LiveServer, conversation_id: int) -> list[str]:
    with server.api() as api:
        items = api.get(f"/api/v1/conversations/{conversation_id}/messages").json()["items"]
    return [m["delivery"] for m in items if m["direction"] == "out"]


def _reply_told_twice(chat: Webchat, conversation: dict[str, Any], text: str) -> list[str]:
    """Post a reply with the worker paused: the stream names the conversation for the
    reply; resumed, it names it again for the delivery. The reply's delivery states as
    read right after each of the two events."""
    server, cid = chat.server, conversation["id"]
    with (
        event_stream(signed_in(server, AFTER_SALES)) as mine,
        event_stream(signed_in(server, INVOICES)) as theirs,
    ):
        with worker_paused(server), server.api() as api:
            sent = api.post(
                f"/api/v1/conversations/{cid}/messages", json={"kind": "reply", "text": text}
            )
            assert sent.status_code == 201, sent.text
            assert ids_until(mine, cid, 10)[-1:] == [cid]  # the reply itself
            before = _reply_delivery(server, cid)
        assert ids_until(mine, cid, 20)[-1:] == [cid], "the delivery was not told"
        after = _reply_delivery(server, cid)
        assert theirs.next_event(0.5) is None  # another team's conversation
    return [*before, *after]


def test_the_worker_delivering_a_reply_is_told_to_the_agents_stream(chat):
    conversation = _visitor_conversation(chat, "你好，空调遥控器失灵了")
    told = _reply_told_twice(chat, conversation, "您好，请先更换遥控器电池试试。")
    assert told == ["queued", "delivered"]


def test_a_refused_reply_is_told_to_the_agents_stream(chat):
    conversation = _visitor_conversation(chat, "请不要再联系我了")
    customer = str(conversation["customer_id"])
    chat.server.cli("consent", "set", customer, "service", "--withdraw", "--note", "顾客要求")
    told = _reply_told_twice(chat, conversation, "好的，已为您登记。")
    assert told == ["queued", "refused"]
