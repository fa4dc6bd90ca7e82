"""The channels end to end in a real browser (Debian's Chromium through Playwright),
against a live ``omnicx serve``: on the embedded default (SQLite) and in production mode
(PostgreSQL and JetStream).

A member known by phone (the CRM's identify, which also binds their WeChat openid) called
the hotline (the PBX's signed call events) and wrote an email (``smtplib`` to the server's
SMTP listener). Then they write on WeChat (a callback signed with wechatpy): the message
appears live in the inbox of the agent routing gave it to; the agent opens it and the
customer panel, masked for a basic agent, shows the earlier call and email as sentences;
the agent's reply reaches the local stand-in for WeChat's API, to that openid, with the
access token it issued.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import send_calls, sign_in, wait_for_events
from tests.channels.email_helpers import customer_mail, free_port, send
from tests.channels.phone_helpers import Phone, call, call_id, signed_headers
from tests.channels.wechat_helpers import (
    APP_ID,
    APP_SECRET,
    OPENID,
    TOKEN,
    Recorder,
    callback,
    text_xml,
    wechat_api,
)
from tests.live_server import LiveServer, live_server_on
from tests.web.desk_live_helpers import AFTER_SALES, PASSWORD, staff_commands

pytestmark = pytest.mark.slow

NAME, PHONE, EMAIL = "王芳", "13800138000", "wangfang@example.cn"
MASKED_PHONE = "138****8000"
QUESTION = "你好，我的空调外机还是有异响，师傅什么时候能上门？"
REPLY = "王女士您好，师傅明天上午十点前上门检修。"


@dataclass
class Desk:
    server: LiveServer
    recorder: Recorder
    wechat_url: str
    phone: Phone
    smtp_port: int


@pytest.fixture(params=["embedded", "production"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    """A live desk (two teams, routing to 售后服务) with a WeChat channel pointed at the
    local WeChat API, a phone channel whose extension 8001 is the agent's, and a mailbox
    behind the server's SMTP listener."""
    smtp_port = free_port()
    backend, settings = "sqlite", {"OMNICX_SMTP_PORT": str(smtp_port)}
    if request.param == "production":
        backend = "postgres"
        settings |= {
            "OMNICX_EVENT_LOG": request.getfixturevalue("nats_url"),
            "OMNICX_NATS_STREAM": request.getfixturevalue("stream"),
        }
    with (
        wechat_api() as recorder,
        live_server_on(backend, tmp_path / "omnicx", settings) as server,
    ):
        *_, wechat, phone, _ = server.cli_each(
            *staff_commands(),
            ["channels", "create", "wechat", "--name", "商城服务号", "--app-id", APP_ID,
             "--app-secret", APP_SECRET, "--token", TOKEN, "--api-base", recorder.url,
             "--server-url", server.url],
            ["channels", "create", "phone", "--name", "400热线", "--server-url", server.url,
             "--extension", f"8001={AFTER_SALES}"],
            ["channels", "create", "email", "--name", "客服邮箱", "--address", "support@shop.cn"],
        )  # fmt: skip
        lines = phone.strip().splitlines()
        yield Desk(
            server,
            recorder,
            wechat.strip().splitlines()[-1],
            Phone(0, lines[1].rsplit("/", 1)[1], lines[3]),
            smtp_port,
        )


def _event_count(server: LiveServer) -> int:
    with server.api() as api:
        found = api.get("/api/v1/customers/lookup", params={"type": "phone", "value": PHONE})
        assert found.status_code == 200, found.text
        return int(found.json()["event_count"])


def _earlier_contact(desk: Desk) -> None:
    """The member, bound to their openid; then their call and their email, projected."""
    member = {
        "type": "identify",
        "userId": "M-20261207-0042",
        "traits": {"name": NAME, "phone": PHONE, "email": EMAIL},
        "context": {"externalIds": [{"type": "wechat_openid", "collection": APP_ID, "id": OPENID}]},
    }
    send_calls(desk.server, [member])
    wait_for_events(desk.server, "phone", PHONE, 1)
    before = _event_count(desk.server)

    cid = call_id()
    for payload in (
        call("ringing", cid, number=PHONE, agent="8001"),
        call("answered", cid, number=PHONE, agent="8001"),
        call("hangup", cid, number=PHONE, agent="8001", duration=192),
    ):
        body = json.dumps(payload).encode()
        posted = httpx.post(
            desk.server.url + desk.phone.path,
            content=body,
            headers=signed_headers(desk.phone, body),
            timeout=10,
        )
        assert posted.status_code == 200, posted.text
    send(desk.smtp_port, customer_mail("空调外机有异响，麻烦安排检修。", subject="空调售后报修"))
    # Ringing, answered, the call's message, the mail: all on the member's customer.
    wait_for_events(desk.server, "phone", PHONE, before + 4, timeout=30)


def _inbox(browser: Any, server: LiveServer) -> Any:
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"})
    page = context.new_page()
    page.goto(server.url + "/login")
    sign_in(page, AFTER_SALES, PASSWORD)
    page.wait_for_load_state()
    page.goto(server.url + "/desk?view=mine")
    page.wait_for_function("document.documentElement.dataset.live === 'open'")
    return page


def test_a_member_known_by_phone_writes_on_wechat_and_the_agent_answers(browser: Any, desk):
    server, recorder = desk.server, desk.recorder
    _earlier_contact(desk)
    inbox = _inbox(browser, server)
    rows = inbox.locator("#inbox-list tr[data-conversation]")
    rows_before = rows.count()

    query, body = callback(text_xml(QUESTION, 28_000_001))
    answered = httpx.post(desk.wechat_url, params=query, content=body, timeout=10)
    assert answered.status_code == 200 and answered.text == "success", answered.text

    # Live, without a reload: a new row with the message's preview, the name masked.
    row = inbox.locator("#inbox-list tr[data-conversation]", has_text="师傅什么时候能上门")
    row.wait_for(timeout=20_000)
    assert rows.count() == rows_before + 1
    assert NAME not in row.inner_text()
    conversation_id = row.get_attribute("data-conversation")

    row.locator("a").click()
    inbox.wait_for_url(f"**/desk/conversations/{conversation_id}")
    inbox.locator("#thread", has_text=QUESTION).wait_for()
    panel = inbox.locator("#customer-panel")
    inbox.locator("#panel-name").wait_for()
    text = panel.inner_text()
    # Masked for a basic agent: no name, phone or address in clear, the phone's last digits.
    assert NAME not in text and PHONE not in text and EMAIL not in text, text
    assert MASKED_PHONE in text, text
    # The earlier call and email, as sentences on the member's timeline.
    timeline = inbox.locator("#panel-timeline").inner_text()
    for sentence in ("来电振铃", "电话已接通", "来电，时长 3:12", "发来邮件"):
        assert sentence in timeline, timeline
    assert "空调外机有异响" in timeline, timeline

    inbox.fill("#reply-text", REPLY)
    inbox.press("#reply-text", "Control+Enter")
    inbox.locator("#thread .message-out", has_text="明天上午十点").wait_for()

    deadline = time.monotonic() + 20
    while not recorder.sent:
        assert time.monotonic() < deadline, "the reply never reached WeChat's API"
        time.sleep(0.1)
    assert recorder.sent == [{"touser": OPENID, "msgtype": "text", "text": {"content": REPLY}}]
    # The recorder takes a send only with the token it issued last (else 40001).
    assert recorder.tokens_issued and recorder.valid_token == recorder.tokens_issued[-1]
    inbox.context.close()
