"""SMS in production mode: PostgreSQL and the NATS JetStream event log, a live server
with its worker. A text Twilio posts three times (its retries) is one event and one
message of the texter's conversation; the agent's reply reaches the local stand-in for
Twilio through the worker's dispatcher, and Twilio's signed status callback marks it
delivered in the thread."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.channels.sms_helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    FROM,
    signature,
    text_form,
    twilio_api,
)
from tests.channels.webchat_helpers import logged_messages
from tests.live_server import eventually, live_server_on

pytestmark = pytest.mark.slow


def test_a_retried_text_a_reply_and_its_status_through_jetstream(tmp_path, nats_url, stream):
    settings = {"OMNICX_EVENT_LOG": nats_url, "OMNICX_NATS_STREAM": stream}
    with twilio_api() as recorder, live_server_on("postgres", tmp_path, settings) as server:
        out = server.cli(
            "channels", "create", "sms", "--name", "生产短信", "--provider", "twilio",
            "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN, "--from", FROM,
            "--api-base-url", recorder.url, "--server-url", server.url,
        )  # fmt: skip
        lines = out.strip().splitlines()
        url, status_url = lines[-1], lines[-3]
        assert re.fullmatch(rf"{server.url}/sms/twilio/sms_[\w-]+", url), out
        form = text_form("安装师傅什么时候到？")
        headers = {"X-Twilio-Signature": signature(url, form)}
        for _ in range(3):
            answer = httpx.post(url, data=form, headers=headers, timeout=10)
            assert answer.status_code == 200 and "<Response>" in answer.text, answer.text
        events = eventually(lambda: logged_messages(server, f"sms-{form['MessageSid']}"))
        assert len(events) == 1 and events[0]["properties"]["thread"] == CUSTOMER
        api = server.api()

        def conversation() -> dict[str, Any] | None:
            found = api.get("/api/v1/conversations", params={"channel": "sms"}).json()
            return next((c for c in found["items"] if c["thread"] == CUSTOMER), None)

        opened = eventually(conversation)
        path = f"/api/v1/conversations/{opened['id']}/messages"
        assert [m["text"] for m in api.get(path).json()["items"]] == ["安装师傅什么时候到？"]
        sent = api.post(path, json={"kind": "reply", "text": "师傅下午两点前到。"})
        assert sent.status_code == 201, sent.text
        eventually(lambda: recorder.sent)
        [text] = recorder.sent
        assert (text["To"], text["Body"]) == (CUSTOMER, "师傅下午两点前到。")
        assert text["StatusCallback"] == status_url

        def reply_state() -> str:
            items = api.get(path).json()["items"]
            return str(next(m["delivery"] for m in items if m["direction"] == "out"))

        eventually(lambda: reply_state() == "sent")
        callback = {"MessageSid": text["sid"], "MessageStatus": "delivered",
                    "AccountSid": ACCOUNT_SID}  # fmt: skip
        signed = {"X-Twilio-Signature": signature(status_url, callback)}
        assert httpx.post(status_url, data=callback, headers=signed).status_code == 204
        assert reply_state() == "delivered"
