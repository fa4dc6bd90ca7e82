"""The widget in Chromium: a shop's page on another origin embeds the snippet, a visitor
fills in the pre-chat form and writes; the message is on the log with their details, and
an agent's reply queued in the outbox appears in the widget."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.channels.webchat_helpers import (
    Webchat,
    create_webchat,
    customer_of,
    logged_messages,
    queue_reply,
)
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>OmniShop 商城</title></head>
<body><h1>OmniShop</h1>
{snippet}
</body></html>
"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The shop's own web server: a folder and its origin."""
    root = tmp_path_factory.mktemp("shop")
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield root, f"http://localhost:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()


@pytest.fixture(scope="module")
def chat(shop: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webchat]:
    root, origin = shop
    server = LiveServer(tmp_path_factory.mktemp("omnicx"))
    chat = create_webchat(server, "商城在线客服", origin, prechat=True)
    snippet = (
        f'<script src="{server.url}/widget.js" data-omnicx-channel="{chat.token}" async></script>'
    )
    (root / "index.html").write_text(PAGE.format(lang="zh-CN", snippet=snippet), "utf-8")
    (root / "en.html").write_text(PAGE.format(lang="en", snippet=snippet), "utf-8")
    server.start()
    try:
        yield chat
    finally:
        server.stop()


def test_a_visitor_chats_from_the_shop_page_and_sees_the_reply(browser, shop, chat):
    _, origin = shop
    page = browser.new_page()
    page.goto(origin + "/index.html")
    page.click("#omnicx-chat .bubble")
    assert page.inner_text("#omnicx-chat .bubble") == "联系客服"
    page.fill("#omnicx-chat input[name=name]", "王芳")
    page.fill("#omnicx-chat input[name=phone]", "13800138000")
    page.click("#omnicx-chat .start")
    page.fill("#omnicx-chat textarea", "你好，我买的空气净化器还没发货。")
    page.press("#omnicx-chat textarea", "Enter")
    sent = page.wait_for_selector("#omnicx-chat .msg.in:not(.pending)", timeout=10_000)
    message_id = sent.get_attribute("data-message-id")
    assert message_id

    [event] = logged_messages(chat.server, message_id)
    assert event["properties"]["text"] == "你好，我买的空气净化器还没发货。"
    assert event["context"]["traits"] == {"name": "王芳", "phone": "13800138000"}
    visitor_id = event["anonymousId"]
    assert page.evaluate(f"localStorage.getItem('omnicx.visitor.{chat.token}')").startswith(
        visitor_id + "."
    )

    customer_id = customer_of(chat.server, "anonymous_id", visitor_id)
    queue_reply(chat.server, chat, f"v:{visitor_id}", "您好王女士，今天下午发出。", customer_id)
    reply = page.wait_for_selector("#omnicx-chat .msg.out", timeout=10_000)
    assert "您好王女士，今天下午发出。" in reply.inner_text()
    assert "客服小李" in reply.inner_text()

    # Back later (a reload): the thread's history is shown again, without the form.
    page.reload()
    page.click("#omnicx-chat .bubble")
    page.wait_for_selector("#omnicx-chat .msg.out", timeout=10_000)
    assert page.locator("#omnicx-chat .msg").count() == 2
    assert not page.is_visible("#omnicx-chat .pre")
    page.close()


def test_the_widget_speaks_the_page_language(browser, shop, chat):
    _, origin = shop
    page = browser.new_page()
    page.goto(origin + "/en.html")
    page.click("#omnicx-chat .bubble")
    assert page.inner_text("#omnicx-chat .bubble") == "Chat"
    assert page.get_attribute("#omnicx-chat textarea", "placeholder") == "Type a message…"
    page.close()
