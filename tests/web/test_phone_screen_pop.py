"""The screen pop against a live ``omnicx serve`` (SQLite and PostgreSQL), over real
HTTP: a PBX posts a signed call answered by an agent (by extension), and that agent's
``/desk/live`` stream gets a ``call`` event with ids only — the caller's customer and
phone conversation — while another agent's stream gets nothing of it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.channels.phone_helpers import CALLER, call, call_id, signed_headers
from tests.channels.phone_helpers import Phone as PhoneChannel
from tests.live_server import LiveServer, live_server_on
from tests.web.desk_live_helpers import AFTER_SALES, INVOICES, event_stream, signed_in, staff

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("phone-live")
    with live_server_on(request.param, home, {}) as live:
        staff(live)
        yield live


def _phone(server: LiveServer) -> PhoneChannel:
    out = server.cli(
        "channels", "create", "phone", "--name", "400 热线", "--extension", f"8001={AFTER_SALES}"
    )
    lines = out.strip().splitlines()
    url, secret = lines[1], lines[3]
    return PhoneChannel(0, url.rsplit("/", 1)[1], secret)


def _post(server: LiveServer, phone: PhoneChannel, payload: dict) -> None:
    body = json.dumps(payload).encode()
    answer = httpx.post(
        server.url + phone.path, content=body, headers=signed_headers(phone, body), timeout=10
    )
    assert answer.status_code == 200, answer.text


def _calls(stream, timeout: float) -> list[dict]:
    """The ``call`` events the stream sends within ``timeout`` (conversation ones skipped)."""
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = stream.next_event(deadline - time.monotonic())
        if event is None:
            break
        if event[0] == "call":
            found.append(json.loads(event[1]))
            break
    return found


def _customer_of(server: LiveServer, phone: str) -> int:
    deadline = time.monotonic() + 20
    with server.api() as api:
        while time.monotonic() < deadline:
            found = api.get("/api/v1/customers/lookup", params={"type": "phone", "value": phone})
            if found.status_code == 200:
                return int(found.json()["id"])
            time.sleep(0.1)
    raise AssertionError("the caller has no customer")


def test_the_answering_agent_gets_the_callers_customer_and_no_one_else(server):
    phone = _phone(server)
    # The caller phoned before: a missed call left a phone conversation.
    first = call_id()
    _post(server, phone, call("ringing", first))
    _post(server, phone, call("hangup", first))
    customer_id = _customer_of(server, CALLER)
    with server.api() as api:
        deadline = time.monotonic() + 20
        conversation = None
        while conversation is None and time.monotonic() < deadline:
            items = api.get("/api/v1/conversations", params={"channel": "phone"}).json()["items"]
            conversation = next((c for c in items if c["thread"] == CALLER), None)
            time.sleep(0.1)
    assert conversation is not None and conversation["labels"] == ["callback"]
    with (
        event_stream(signed_in(server, AFTER_SALES)) as mine,
        event_stream(signed_in(server, INVOICES)) as theirs,
    ):
        cid = call_id()
        _post(server, phone, call("ringing", cid))
        _post(server, phone, call("answered", cid, agent="8001"))
        [popped] = _calls(mine, 20)
        assert popped == {
            "call_id": cid,
            "conversation_id": conversation["id"],
            "customer_id": customer_id,
        }
        # Ids only: nothing personal in the event.
        assert "13912345678" not in json.dumps(popped) and CALLER not in json.dumps(popped)
        assert _calls(theirs, 3) == []
