"""What the live desk tests share: a live server with two teams and their agents, signed-in
HTTP sessions, a reader of ``/desk/live``'s server-sent events, and customers writing in
through the tracking API."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from omnicx.desk.messages import Sender, message_call
from tests.browser import send_calls
from tests.live_server import LiveServer

PASSWORD = "correct horse battery staple 9"
AFTER_SALES = "li.na@omnishop.cn"  # 售后服务: every new conversation is routed there
INVOICES = "wang.qiang@omnishop.cn"  # 发票组: no rule sends anything there
ANALYST = "chen.jing@omnishop.cn"


def staff(server: LiveServer) -> None:
    """Two teams with an agent each, routing to the first, and an analyst."""
    server.cli_each(*staff_commands())


def staff_commands() -> list[list[str]]:
    """``staff``'s commands, for a test that runs more of its own in the same process."""
    commands = [
        ["users", "create", email, "--role", role, "--name", name, "--password", PASSWORD]
        for email, role, name in (
            (AFTER_SALES, "agent", "李娜"),
            (INVOICES, "agent", "王强"),
            (ANALYST, "analyst", "陈静"),
        )
    ]
    for team, email in (("售后服务", AFTER_SALES), ("发票组", INVOICES)):
        commands += [
            ["teams", "create", team],
            ["teams", "add-agent", team, email],
            ["agents", "set", email, "--presence", "online", "--capacity", "50"],
        ]
    return [*commands, ["teams", "route", "售后服务", "--everyone"]]


def signed_in(server: LiveServer, email: str) -> httpx.Client:
    """An HTTP client holding a session of ``email`` (signed in through the form)."""
    client = httpx.Client(base_url=server.url, timeout=10, headers={"Accept-Language": "en"})
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, form
    done = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf": csrf.group(1), "next": "/desk"},
    )
    assert done.status_code in (200, 303), done.text
    assert "omnicx_session" in client.cookies
    return client


def customer_writes(server: LiveServer, text: str, thread: str | None = None) -> str:
    """A customer's web chat message through the tracking API; returns its thread."""
    thread = thread or f"live-{uuid.uuid4().hex[:8]}"
    call = message_call(
        direction="in",
        channel="webchat",
        thread=thread,
        text=text,
        message_id=uuid.uuid4().hex,
        sender=Sender(anonymous_id=thread),
        timestamp=datetime.now(UTC),
    )
    send_calls(server, [call])
    return thread


@dataclass
class EventStream:
    """``/desk/live`` read in a thread: its events (name, data) and comments, as they come."""

    client: httpx.Client
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    events: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    comments: list[str] = field(default_factory=list)
    ended_at: float | None = None
    _opened: threading.Event = field(default_factory=threading.Event)
    _socket: socket.socket | None = None

    def read(self) -> None:
        try:
            with self.client.stream("GET", "/desk/live", timeout=httpx.Timeout(10, read=60)) as r:
                self._socket = r.extensions["network_stream"].get_extra_info("socket")
                self.status, self.headers = r.status_code, dict(r.headers)
                if r.status_code != 200:
                    return
                name, data = "message", []
                for line in r.iter_lines():
                    if line.startswith("retry:"):  # sent once the server listens
                        self._opened.set()
                    elif line.startswith(":"):
                        self.comments.append(line)
                    elif line.startswith("event:"):
                        name = line.removeprefix("event:").strip()
                    elif line.startswith("data:"):
                        data.append(line.removeprefix("data:").strip())
                    elif line == "" and data:
                        self.events.put((name, "\n".join(data)))
                        name, data = "message", []
        except httpx.HTTPError:
            pass
        finally:
            self.ended_at = time.monotonic()
            self._opened.set()

    def stop(self) -> None:
        """End the reading at once, as a closed browser tab does: closing the client from
        here would leave the reader blocked in its socket until the next heartbeat."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)

    def wait_open(self) -> None:
        assert self._opened.wait(10), "the stream did not answer"

    def next_event(self, timeout: float) -> tuple[str, str] | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None


@contextmanager
def event_stream(client: httpx.Client) -> Iterator[EventStream]:
    stream = EventStream(client)
    reader = threading.Thread(target=stream.read, daemon=True)
    reader.start()
    stream.wait_open()
    try:
        yield stream
    finally:
        stream.stop()  # the server sees the disconnect
        reader.join(10)
        client.close()


def conversation_of(server: LiveServer, thread: str, timeout: float = 20) -> dict:
    """The conversation of a thread, once the desk group placed its message."""
    deadline = time.monotonic() + timeout
    with server.api() as api:
        while time.monotonic() < deadline:
            items = api.get("/api/v1/conversations", params={"limit": 200}).json()["items"]
            found = [c for c in items if c["thread"] == thread]
            if found:
                return found[0]
            time.sleep(0.1)
    raise AssertionError(f"no conversation for thread {thread}")


def ids_until(stream, wanted: int, timeout: float) -> list[int]:
    """Conversation ids the stream sends until ``wanted`` comes (or the time is up)."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = stream.next_event(deadline - time.monotonic())
        if event is None:
            break
        name, data = event
        assert name == "conversation"
        seen.append(json.loads(data)["id"])
        if seen[-1] == wanted:
            break
    return seen
