"""The widget in Chromium: a shop's page on another origin embeds the snippet, a visitor
fills in the pre-chat form and writes; the message is on the log with their details, and
an agent's reply queued in the outbox appears in the widget. Files both ways: the
paperclip sends one, a refused one is explained, an agent's arrives as a link."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.channels.webchat_helpers import (
    Webchat,
    create_webchat,
    customer_of,
    logged_messages,
    queue_reply,
)
from tests.desk import files
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
    # A 1 MB file limit, so that the test of it moves little.
    limit = {"OMNICX_ATTACHMENT_MAX_BYTES": str(1024 * 1024)}
    server = LiveServer(tmp_path_factory.mktemp("omnicx"), settings=limit)
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


def _conversation_of(chat: Webchat, thread: str, timeout: float = 20.0) -> int:
    """The conversation the live server's desk opened for this thread."""
    deadline = time.monotonic() + timeout
    with chat.server.api() as api:
        while time.monotonic() < deadline:
            items = api.get("/api/v1/conversations", params={"channel": "webchat"}).json()
            found = [c["id"] for c in items["items"] if c["thread"] == thread]
            if found:
                return int(found[0])
            time.sleep(0.2)
    raise AssertionError(f"no conversation for {thread}")


def test_a_visitor_sends_a_file_and_receives_one(browser, shop, chat):
    _, origin = shop
    page = browser.new_page()
    page.goto(origin + "/index.html")
    page.click("#omnicx-chat .bubble")
    page.wait_for_selector("#omnicx-chat .attach:not([disabled])", timeout=10_000)
    assert page.get_attribute("#omnicx-chat .attach", "aria-label") == "发送文件"
    photo = files.png()
    page.set_input_files(
        "#omnicx-chat .picker", {"name": "漏水照片.png", "mimeType": "image/png", "buffer": photo}
    )
    link = page.wait_for_selector("#omnicx-chat .msg.in:not(.pending) a.file", timeout=10_000)
    assert "漏水照片.png" in link.inner_text()
    href = link.get_attribute("href")
    assert href and href.startswith(chat.server.url + "/widget/attachments/")
    assert httpx.get(href).content == photo

    # A program named like a photo: refused by the server, told in the page's language.
    page.set_input_files(
        "#omnicx-chat .picker",
        {"name": "照片.png", "mimeType": "image/png", "buffer": files.windows_program()},
    )
    page.wait_for_function(
        "document.querySelector('#omnicx-chat').shadowRoot"
        ".querySelector('.note').textContent.includes('无法发送此类文件')",
        timeout=10_000,
    )
    assert page.locator("#omnicx-chat .msg.in").count() == 1
    # Over the limit the welcome frame told: not even sent.
    page.set_input_files(
        "#omnicx-chat .picker",
        {"name": "视频.mp4", "mimeType": "video/mp4", "buffer": b"\0" * (1024 * 1024 + 1)},
    )
    assert page.inner_text("#omnicx-chat .note") == "文件过大（最多 1 MB）。"
    assert page.locator("#omnicx-chat .msg.in").count() == 1

    # An agent answers with a PDF through the API; it arrives in the widget as a link.
    message_id = page.get_attribute("#omnicx-chat .msg.in", "data-message-id")
    [event] = logged_messages(chat.server, message_id)
    conversation_id = _conversation_of(chat, f"v:{event['anonymousId']}")
    invoice = files.pdf()
    with chat.server.api() as api:
        uploaded = api.post(
            f"/api/v1/conversations/{conversation_id}/attachments",
            files={"file": ("发票.pdf", invoice, "application/pdf")},
        )
        assert uploaded.status_code == 201, uploaded.text
        reply = api.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": "发票请查收。", "attachment_ids": [uploaded.json()["id"]]},
        )
        assert reply.status_code == 201, reply.text
    theirs = page.wait_for_selector("#omnicx-chat .msg.out a.file", timeout=15_000)
    assert "发票.pdf" in theirs.inner_text()
    assert httpx.get(theirs.get_attribute("href") or "").content == invoice
    page.close()
