"""The desk end to end in a real browser (Debian's Chromium through Playwright): a shop's
page with the chat widget in one browser context, the agent console in others.

The visitor writes; the conversation appears live in the inbox of the agent routing gave
it to (and in no one else's); the agent opens it, answers with a canned reply, and the
visitor sees the answer live. A basic agent's customer panel is masked; a senior agent
reveals the phone with a reason. The console in Chinese shows no English word.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from omnicx.desk.demo import DEMO_PASSWORD
from tests.browser import sign_in
from tests.channels.test_webchat_browser import PAGE, QuietHandler
from tests.channels.webchat_helpers import create_webchat
from tests.live_server import LiveServer, live_server_on
from tests.web.test_i18n_browser import VISIBLE_TEXT, english_words

pytestmark = pytest.mark.slow

AGENT = "li.na@omnishop.cn"  # 售后服务, basic agent: routing's only online choice here
OTHER_TEAM = "zhou.min@omnishop.cn"  # 订单与物流: must never see the conversation
SENIOR = "wang.fang@omnishop.cn"  # a senior agent, added to 售后服务 for this test
VISITOR_NAME, VISITOR_PHONE = "王芳", "13800138000"
QUESTION = "你好，我上周买的空调发票开好了吗？"


@pytest.fixture(params=["embedded", "production"])
def shop_and_desk(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, LiveServer, str]]:
    """A shop's site on its own origin embedding the widget, and a live desk: on the
    embedded default (SQLite), or in production mode (PostgreSQL and JetStream)."""
    root = tmp_path / "shop"
    root.mkdir()
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    origin = f"http://localhost:{site.server_address[1]}"
    backend, settings = "sqlite", None
    if request.param == "production":
        backend = "postgres"
        settings = {
            "OMNICX_EVENT_LOG": request.getfixturevalue("nats_url"),
            "OMNICX_NATS_STREAM": request.getfixturevalue("stream"),
        }
    try:
        with live_server_on(backend, tmp_path / "omnicx", settings) as server:
            # Routing gives web chat to 售后服务: only this agent is online there, with room.
            server.cli_each(
                ["desk", "seed"],
                ["agents", "set", "zhao.lei@omnishop.cn", "--presence", "offline"],
                ["agents", "set", AGENT, "--capacity", "50", "--presence", "online"],
                ["teams", "add-agent", "售后服务", SENIOR],
            )
            chat = create_webchat(server, "商城在线客服", origin, prechat=True)
            snippet = (
                f'<script src="{server.url}/widget.js" data-omnicx-channel="{chat.token}"'
                " async></script>"
            )
            (root / "index.html").write_text(PAGE.format(lang="zh-CN", snippet=snippet), "utf-8")
            yield origin, server, chat.token
    finally:
        site.shutdown()
        site.server_close()


def console_page(browser: Any, server: LiveServer, email: str, path: str) -> Any:
    """A fresh browser context signed in as ``email`` (Chinese browser), on ``path``."""
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"})
    page = context.new_page()
    page.goto(server.url + "/login")
    sign_in(page, email, DEMO_PASSWORD)
    page.wait_for_load_state()
    page.goto(server.url + path)
    # The live stream is open before anything happens (console.js marks <html>).
    page.wait_for_function("document.documentElement.dataset.live === 'open'")
    return page


def test_a_visitor_writes_and_the_right_agent_answers_live(browser, shop_and_desk):
    origin, server, token = shop_and_desk
    inbox = console_page(browser, server, AGENT, "/desk?view=mine")
    elsewhere = console_page(browser, server, OTHER_TEAM, "/desk?view=all")
    rows_before = inbox.locator("#inbox-list tr[data-conversation]").count()

    visitor = browser.new_context(locale="zh-CN").new_page()
    visitor.goto(origin + "/index.html")
    visitor.click("#omnicx-chat .bubble")
    visitor.fill("#omnicx-chat input[name=name]", VISITOR_NAME)
    visitor.fill("#omnicx-chat input[name=phone]", VISITOR_PHONE)
    visitor.click("#omnicx-chat .start")
    visitor.fill("#omnicx-chat textarea", QUESTION)
    visitor.press("#omnicx-chat textarea", "Enter")
    visitor.wait_for_selector("#omnicx-chat .msg.in:not(.pending)", timeout=10_000)

    # Live in the agent's inbox, without a reload: a new row with the message's preview.
    row = inbox.locator("#inbox-list tr[data-conversation]", has_text="发票开好了吗")
    row.wait_for(timeout=10_000)
    assert inbox.locator("#inbox-list tr[data-conversation]").count() == rows_before + 1
    conversation_id = row.get_attribute("data-conversation")
    # The agent sees the visitor's name as a basic agent may: masked.
    assert VISITOR_NAME not in row.inner_text() and "王" in row.inner_text()
    # Another team's agent never gets it, even after the stream has had time to tell.
    elsewhere.wait_for_timeout(1500)
    assert elsewhere.locator(f"#conversation-{conversation_id}").count() == 0

    # The agent opens it: the panel is masked, there is nothing to reveal.
    row.locator("a").click()
    inbox.wait_for_url(f"**/desk/conversations/{conversation_id}")
    panel = inbox.locator("#customer-panel")
    inbox.locator("#panel-name").wait_for()
    assert VISITOR_PHONE not in panel.inner_text() and VISITOR_NAME not in panel.inner_text()
    assert panel.locator("form.reveal").count() == 0

    # A canned reply: "/inv" lists /invoice; Enter fills it in, Ctrl+Enter sends it.
    inbox.click("#reply-text")
    inbox.keyboard.type("/inv")
    inbox.locator("#canned-picker [data-code=invoice]").wait_for()
    inbox.keyboard.press("Enter")
    inbox.wait_for_function("document.getElementById('reply-text').value.includes('电子发票')")
    answer = inbox.input_value("#reply-text")
    assert VISITOR_NAME not in answer  # filled in as the agent may see the customer
    inbox.keyboard.press("Control+Enter")
    inbox.locator("#thread .message-out", has_text="电子发票").wait_for()

    # The visitor sees the answer live in the widget.
    reply = visitor.wait_for_selector("#omnicx-chat .msg.out", timeout=10_000)
    assert "电子发票" in reply.inner_text()

    # The console in Chinese: no English word but data and names. Data here: the visitor's
    # id (its anonymous id), identifier types and trait keys (as on the 360 page), the
    # agent's e-mail; names: the keys Ctrl and Enter as keyboards print them, and "SLA".
    visitor_id = visitor.evaluate(f"localStorage.getItem('omnicx.visitor.{token}')")
    data = {VISITOR_NAME, VISITOR_PHONE, QUESTION, answer, AGENT, visitor_id}
    data |= {"anonymous_id phone name Ctrl Enter SLA"}
    left = english_words(inbox.evaluate(VISIBLE_TEXT), data)
    assert not left, f"English on the conversation page: {sorted(left)}"

    # A senior agent of the team reveals the phone, giving a reason.
    senior = console_page(browser, server, SENIOR, f"/desk/conversations/{conversation_id}")
    senior.locator("#panel-name").wait_for()
    phone = senior.locator('input[name=field][value="traits.phone"]')
    form = senior.locator("#customer-panel form.reveal", has=phone).first
    form.locator("input[name=reason]").fill("客户来电核实身份")
    form.locator("button").click()
    senior.locator("#customer-panel", has_text=VISITOR_PHONE).wait_for(timeout=5_000)
