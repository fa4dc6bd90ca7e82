"""What the web chat tests share: a live server with a web chat channel, a visitor's
WebSocket (the ``websockets`` client), and reads of the server's own database."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import select
from websockets.sync.client import ClientConnection, connect

from omnicx.channels.webchat.models import OUTBOUND, WebchatMessage
from omnicx.channels.webchat.transcript import record_line
from omnicx.core.database import Database, get_database, reset_database
from omnicx.core.eventlog.models import EventRow
from omnicx.core.outbox import enqueue
from omnicx.core.settings import reset_settings
from tests.live_server import LiveServer

SHOP = "https://shop.example.cn"


@dataclass
class Webchat:
    server: LiveServer
    token: str
    secret: str
    channel_id: int


def create_webchat(server: LiveServer, name: str, *origins: str, prechat: bool = False) -> Webchat:
    """``omnicx channels create webchat`` as an operator would; parse what it prints."""
    args = ["channels", "create", "webchat", "--name", name, "--identity-secret-generate"]
    if prechat:
        args.append("--prechat")
    for origin in origins or (SHOP,):
        args += ["--origin", origin]
    out = server.cli(*args, "--server-url", server.url)
    lines = out.strip().splitlines()
    snippet = lines[-1]
    assert snippet.startswith(f'<script src="{server.url}/widget.js" data-omnicx-channel="')
    token = re.search(r'data-omnicx-channel="([^"]+)"', snippet)
    channel_id = re.search(r"\(id (\d+)\)", out)
    assert token and channel_id, out
    return Webchat(server, token.group(1), lines[-2].strip(), int(channel_id.group(1)))


def socket_url(chat: Webchat, **params: str) -> str:
    query = {"token": chat.token, **params}
    return chat.server.url.replace("http://", "ws://") + "/widget/ws?" + urlencode(query)


@contextmanager
def visitor(chat: Webchat, origin: str | None = SHOP, **params: str) -> Iterator[ClientConnection]:
    headers = {"Origin": origin} if origin else {}
    with connect(socket_url(chat, **params), additional_headers=headers, open_timeout=10) as ws:
        yield ws


def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return frame


def receive_until(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame of ``kind`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = receive(ws, max(0.05, deadline - time.monotonic()))
        if frame["type"] == kind:
            return frame


def say(ws: ClientConnection, text: str, client_id: str | None = None, **extra: Any) -> str:
    client_id = client_id or uuid.uuid4().hex
    ws.send(
        orjson.dumps({"type": "message", "client_id": client_id, "text": text, **extra}).decode()
    )
    return client_id


@contextmanager
def server_database(server: LiveServer) -> Iterator[Database]:
    """This process pointed at the server's data (and its keys), restored afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("OMNICX_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in server.env.items() if k.startswith("OMNICX_")})
    reset_settings()
    reset_database()
    try:
        yield get_database()
    finally:
        reset_database()
        for key in [k for k in os.environ if k.startswith("OMNICX_")]:
            del os.environ[key]
        os.environ.update(saved)
        reset_settings()


def logged_messages(server: LiveServer, message_id: str) -> list[dict[str, Any]]:
    """The payloads on the event log with this message id."""
    with server_database(server) as db, db.read() as session:
        rows = session.scalars(select(EventRow).where(EventRow.message_id == message_id))
        return [{"name": r.name, "type": r.type, **json.loads(r.payload)} for r in rows]


def transcript(server: LiveServer, channel_id: int) -> list[tuple[str, str, str]]:
    with server_database(server) as db, db.read() as session:
        rows = session.scalars(
            select(WebchatMessage)
            .where(WebchatMessage.channel_id == channel_id)
            .order_by(WebchatMessage.id)
        )
        return [(r.thread, r.direction, r.message_id) for r in rows]


def customer_of(server: LiveServer, kind: str, value: str, timeout: float = 20.0) -> int:
    """The customer the pipeline resolved this identifier to."""
    deadline = time.monotonic() + timeout
    with server.api() as api:
        while time.monotonic() < deadline:
            found = api.get("/api/v1/customers/lookup", params={"type": kind, "value": value})
            if found.status_code == 200:
                return int(found.json()["id"])
            time.sleep(0.1)
    raise AssertionError(f"no customer for {kind} {value}")


def queue_reply(server: LiveServer, chat: Webchat, thread: str, text: str, customer_id: int) -> str:
    """What the desk does for an agent's reply: a ``channel.webchat`` outbox message."""
    message_id = f"reply-{uuid.uuid4().hex}"
    payload = {
        "channel_id": chat.channel_id,
        "thread": thread,
        "text": text,
        "message_id": message_id,
        "author_name": "客服小李",
    }
    with server_database(server) as db, db.write() as session:
        enqueue(
            session,
            "channel.webchat",
            payload,
            customer_id=customer_id,
            purpose="service",
            channel="webchat",
        )
    return message_id


def record_reply(
    server: LiveServer, channel_id: int, thread: str, message_id: str, text: str
) -> None:
    """A transcript line written from this process, as the worker's dispatcher writes it."""
    with server_database(server) as db, db.write() as session:
        record_line(
            session,
            channel_id=channel_id,
            thread=thread,
            direction=OUTBOUND,
            message_id=message_id,
            text=text,
            author_name="客服小李",
        )
