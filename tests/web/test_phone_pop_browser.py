"""The screen pop in a real browser (Debian's Chromium through Playwright) against a live
server: a member known by phone calls, the PBX says the call rings at the agent's
extension, and the agent's open inbox shows the banner at once, in Chinese; its link opens
the caller's customer, masked for a basic agent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import send_calls, sign_in, wait_for_events
from tests.channels.phone_helpers import Phone, call, call_id, signed_headers
from tests.live_server import LiveServer, live_server_on
from tests.web.desk_live_helpers import AFTER_SALES, PASSWORD, staff

pytestmark = pytest.mark.slow

NAME, PHONE = "王芳", "13912345678"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server_on("sqlite", tmp_path) as live:
        staff(live)
        yield live


def test_the_agent_sees_the_caller_pop_up_and_opens_them_masked(browser: Any, server):
    out = server.cli(
        "channels", "create", "phone", "--name", "400热线", "--extension", f"8001={AFTER_SALES}"
    )
    lines = out.strip().splitlines()
    phone = Phone(0, lines[1].rsplit("/", 1)[1], lines[3])
    member = {"type": "identify", "userId": "M-0042", "traits": {"name": NAME, "phone": PHONE}}
    send_calls(server, [member])
    wait_for_events(server, "phone", PHONE, 1)

    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"})
    page = context.new_page()
    page.goto(server.url + "/login")
    sign_in(page, AFTER_SALES, PASSWORD)
    page.wait_for_load_state()
    page.goto(server.url + "/desk")
    page.wait_for_function("document.documentElement.dataset.live === 'open'")
    assert page.locator("[data-call-pop]").is_hidden()

    body = json.dumps(call("ringing", call_id(), number=PHONE, agent="8001")).encode()
    posted = httpx.post(
        server.url + phone.path, content=body, headers=signed_headers(phone, body), timeout=10
    )
    assert posted.status_code == 200, posted.text

    banner = page.locator("[data-call-pop]")
    banner.wait_for(state="visible", timeout=20_000)
    assert "您有来电" in banner.inner_text()
    customer = banner.locator("[data-call-customer]")
    assert customer.is_visible() and customer.inner_text() == "打开客户"
    # The banner itself names no one: only the link's id.
    assert NAME not in banner.inner_text() and PHONE not in banner.inner_text()
    customer.click()
    page.wait_for_url("**/customers/*")
    text = page.locator("main").inner_text()
    assert NAME not in text, text
    assert PHONE not in text, text  # nor in the phone channel's anonymous id
    assert "139****5678" in text
    context.close()
