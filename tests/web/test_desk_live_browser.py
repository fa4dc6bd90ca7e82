"""The inbox in a real browser (Chromium): an agent watches /desk, a customer writes in,
and the new conversation appears without a reload — through /desk/live, console.js and
htmx — with the customer's name masked for the agent."""

from __future__ import annotations

import re

import pytest

from tests.browser import send_calls, sign_in
from tests.factories import call
from tests.live_server import live_server
from tests.web.desk_live_helpers import AFTER_SALES, PASSWORD, customer_writes, staff

pytestmark = pytest.mark.slow


def test_a_new_conversation_shows_in_the_inbox_without_a_reload(browser, tmp_path):
    with live_server(tmp_path) as server:
        staff(server)
        page = browser.new_page(locale="zh-CN")
        page.goto(server.url + "/desk")
        assert "/login" in page.url
        sign_in(page, AFTER_SALES, PASSWORD)
        page.wait_for_url("**/desk")
        assert page.locator("#inbox-empty").is_visible()
        assert page.locator("header nav a[href='/desk']").inner_text() == "收件箱"
        page.evaluate("window.stillTheSamePage = true")
        page.wait_for_selector("html[data-live=open]", state="attached")  # console.js listens

        thread = "browser-live-1"
        send_calls(server, [call("identify", anonymousId=thread, traits={"name": "赵敏"})])
        customer_writes(server, "洗衣机不排水，怎么办？", thread=thread)

        row = page.locator("#inbox-list tr[data-conversation]")
        row.first.wait_for(timeout=20_000)
        assert page.evaluate("window.stillTheSamePage") is True  # refreshed, not reloaded
        text = row.first.inner_text()
        assert "洗衣机不排水" in text and "网页聊天" in text  # the channel, labelled
        assert "赵敏" not in text  # masked for an agent
        page.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)
        count = page.locator("#inbox-tabs a[data-tab='mine'] .count").inner_text()
        assert re.fullmatch(r"1", count.strip())
        link = row.first.locator("a").first.get_attribute("href")
        assert link is not None and re.fullmatch(r"/desk/conversations/\d+", link)
