"""A web chat visitor who gives nothing, on a live server with its worker (SQLite and
PostgreSQL): their message over the widget's WebSocket becomes a new customer and an
item of the unmatched queue, with no suggestion (there is nothing to go on), which an
admin dismisses through the API."""

from __future__ import annotations

import time
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
from tests.live_server import live_server_on

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def chat(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Webchat]:
    with live_server_on(request.param, tmp_path_factory.mktemp("review-live")) as server:
        yield create_webchat(server, "官网客服")


def _eventually(read: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_an_anonymous_visitor_lands_in_the_unmatched_queue(chat: Webchat) -> None:
    api = chat.server.api()
    with visitor(chat) as ws:
        welcome = receive(ws)
        say(ws, "请问这款净水器有现货吗？")
        receive_until(ws, "ack")
    thread = f"v:{welcome['visitor_id']}"

    def conversation() -> dict[str, Any] | None:
        items = api.get("/api/v1/conversations", params={"channel": "webchat"}).json()["items"]
        return next((c for c in items if c["thread"] == thread), None)

    found = _eventually(conversation)
    assert found is not None

    def item() -> dict[str, Any] | None:
        items = api.get("/api/v1/review/unmatched").json()
        return next((i for i in items if i["conversation_id"] == found["id"]), None)

    queued = _eventually(item)
    assert queued is not None, "the visitor's message opened no unmatched item"
    assert queued["channel"] == "webchat" and queued["customer_id"] == found["customer_id"]
    assert queued["suggestions"] == []
    assert api.get("/api/v1/review/counts").json()["unmatched"] >= 1
    dismissed = api.post(
        f"/api/v1/review/unmatched/{queued['id']}/dismiss", json={"note": "新访客"}
    )
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
