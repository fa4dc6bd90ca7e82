"""Web chat visitors on a live server with its worker (SQLite and PostgreSQL), over the
widget's WebSocket: one who gives nothing becomes a new customer and an item of the
unmatched queue with no suggestion (there is nothing to go on), which an admin dismisses
through the API; one who gives the pre-chat name of a known customer is suggested as
that customer, because of the name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
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
    with live_server_on(request.param, tmp_path_factory.mktemp("review-live")) as server:
        yield create_webchat(server, "官网客服")


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

    found = eventually(conversation)
    assert found is not None

    def item() -> dict[str, Any] | None:
        items = api.get("/api/v1/review/unmatched").json()
        return next((i for i in items if i["conversation_id"] == found["id"]), None)

    queued = eventually(item)
    assert queued is not None, "the visitor's message opened no unmatched item"
    assert queued["channel"] == "webchat" and queued["customer_id"] == found["customer_id"]
    assert queued["suggestions"] == []
    assert api.get("/api/v1/review/counts").json()["unmatched"] >= 1
    dismissed = api.post(
        f"/api/v1/review/unmatched/{queued['id']}/dismiss", json={"note": "新访客"}
    )
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"


def test_a_visitor_who_gives_a_known_name_is_suggested_by_it(chat: Webchat) -> None:
    server = chat.server
    key = server.cli("sources", "create", "crm-live").strip().splitlines()[-1]
    member = {
        "type": "identify",
        "messageId": "crm-live-1",
        "userId": "member-live-1",
        "traits": {"name": "司马相如", "phone": "13500135000"},
    }
    assert httpx.post(f"{server.url}/v1/identify", json=member, auth=(key, "")).status_code == 200
    api = server.api()
    known = eventually(
        lambda: (
            api.get("/api/v1/customers/lookup", params={"type": "phone", "value": "13500135000"})
            .json()
            .get("id")
        )
    )
    with visitor(chat) as ws:
        receive(ws)
        say(ws, "发票怎么开？", profile={"name": "司马相如"})
        receive_until(ws, "ack")

    def suggested() -> list[dict[str, Any]]:
        return [
            i
            for i in api.get("/api/v1/review/unmatched").json()
            if any(s["customer_id"] == known for s in i["suggestions"])
        ]

    [item] = eventually(suggested)
    assert item["channel"] == "webchat"
    [suggestion] = item["suggestions"]
    assert suggestion["reasons"] == [{"code": "same_name", "value": None}]
