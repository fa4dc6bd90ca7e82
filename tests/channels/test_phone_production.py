"""The phone channel in production mode: PostgreSQL and the NATS JetStream event log, a
live server with its worker. A missed call the PBX posts (its hang-up retried, signed
anew each time) is one event and a callback conversation; a replayed request is refused;
the next call, answered by an agent, pops the caller on that agent's live stream."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.channels.phone_helpers import CALLER, Phone, call, call_id, signed_headers
from tests.channels.webchat_helpers import logged_messages
from tests.live_server import eventually, live_server_on
from tests.web.desk_live_helpers import AFTER_SALES, event_stream, signed_in, staff

pytestmark = pytest.mark.slow


def test_a_missed_call_and_a_screen_pop_through_jetstream(tmp_path, nats_url, stream):
    settings = {"OMNICX_EVENT_LOG": nats_url, "OMNICX_NATS_STREAM": stream}
    with live_server_on("postgres", tmp_path, settings) as server:
        staff(server)
        out = server.cli(
            "channels", "create", "phone", "--name", "生产热线", "--server-url", server.url,
            "--extension", f"8001={AFTER_SALES}",
        )  # fmt: skip
        lines = out.strip().splitlines()
        url, secret = lines[1], lines[3]
        phone = Phone(0, url.rsplit("/", 1)[1], secret)

        def send(payload: dict[str, Any], at: float | None = None) -> httpx.Response:
            body = json.dumps(payload).encode()
            headers = signed_headers(phone, body, at)
            return httpx.post(url, content=body, headers=headers, timeout=10)

        missed = call_id()
        assert send(call("ringing", missed)).status_code == 200
        hangup = call("hangup", missed, cause="no_answer")
        now = time.time()
        for attempt in range(3):
            assert send(hangup, now - attempt).status_code == 200
        body = json.dumps(hangup).encode()
        captured = signed_headers(phone, body, now)
        replayed = httpx.post(url, content=body, headers=captured, timeout=10)
        assert replayed.status_code == 403
        assert replayed.json()["error"]["code"] == "signature_replayed"
        events = eventually(lambda: logged_messages(server, f"call-{missed}-hangup"))
        assert len(events) == 1 and events[0]["properties"]["outcome"] == "missed"
        api = server.api()

        def conversation() -> dict[str, Any] | None:
            found = api.get("/api/v1/conversations", params={"channel": "phone"}).json()
            return next((c for c in found["items"] if c["thread"] == CALLER), None)

        opened = eventually(conversation)
        assert opened["labels"] == ["callback"] and opened["status"] == "open"
        with event_stream(signed_in(server, AFTER_SALES)) as mine:
            answered = call_id()
            assert send(call("answered", answered, agent="8001")).status_code == 200
            deadline = time.monotonic() + 30
            popped = None
            while popped is None and time.monotonic() < deadline:
                event = mine.next_event(deadline - time.monotonic())
                if event is not None and event[0] == "call":
                    popped = json.loads(event[1])
            assert popped is not None, "no call event"
            assert popped["call_id"] == answered
            assert popped["conversation_id"] == opened["id"]
            assert popped["customer_id"] == opened["customer_id"]
