"""In a real browser: sign in (an English browser), switch to 中文 on the account page, and
read the home and customer pages: no English word is left but data, identifiers and names.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import ADMIN_EMAIL, send_calls, sign_in, wait_for_events
from tests.factories import call
from tests.live_server import live_server

pytestmark = pytest.mark.slow

ASCII_WORD = re.compile(r"[A-Za-z][A-Za-z_]+")
# Names that stay as they are in every language: the product, the API and the standards it
# follows, the database and the switch's other language, named in itself.
NAMES = {"OmniCX", "API", "OpenAPI", "Segment", "SQLite", "English"}
PHONE = "13712345678"
# The page's visible text nodes one by one (inner_text runs adjacent tags together), but
# not code examples (<code>POST /v1/batch</code>), and the attributes a person reads.
VISIBLE_TEXT = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && parent.checkVisibility() && !parent.closest("code")) {
      texts.push(walker.currentNode.textContent);
    }
  }
  for (const input of document.querySelectorAll("[placeholder], [aria-label], [title]")) {
    texts.push(input.getAttribute("placeholder") || "", input.getAttribute("aria-label") || "");
    texts.push(input.getAttribute("title") || "");
  }
  return texts.join("\\n");
}"""
EVENT = "WeChat Message Received"


def english_words(text: str, data: set[str]) -> set[str]:
    """ASCII words in ``text`` that are neither data nor names."""
    allowed = set(NAMES)
    for value in data:
        allowed |= set(ASCII_WORD.findall(value))
    return {w for w in ASCII_WORD.findall(text) if w not in allowed}


def test_a_user_switches_to_chinese_and_reads_no_english(browser, tmp_path):
    with live_server(tmp_path) as server:
        send_calls(
            server,
            [
                call(
                    "identify",
                    0,
                    userId="crm-88",
                    traits={"name": "王芳", "phone": PHONE, "city": "杭州"},
                ),
                call(
                    "track",
                    3,
                    anonymousId="wx-88",
                    event=EVENT,
                    properties={"text": "请问发票怎么开?"},
                    context={"channel": "wechat", "traits": {"phone": PHONE}},
                ),
            ],
        )
        wait_for_events(server, "phone", PHONE, 2)
        with server.api() as api:
            found = api.get("/api/v1/customers/lookup", params={"type": "phone", "value": PHONE})
            customer_id = int(found.json()["id"])

        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.goto(server.url + "/login")
        assert page.get_attribute("html", "lang") == "en"
        sign_in(page, ADMIN_EMAIL, server.env["OMNICX_ADMIN_PASSWORD"])
        page.wait_for_url("**/customers")
        assert page.inner_text("h1") == "Customers"

        page.goto(server.url + "/account")
        page.select_option("#language select[name=language]", "zh-CN")
        page.click("#language button[type=submit]")
        page.wait_for_url("**/account")
        assert page.get_attribute("html", "lang") == "zh-CN"
        assert page.inner_text("h1") == "我的账户"

        # Data on these pages: the signed-in user, the customer's identifier types and
        # values, trait keys, event names and types. Roles, consent purposes and channels
        # are labelled in Chinese (web/labels.py).
        data = {
            ADMIN_EMAIL,
            "user_id crm-88 phone anonymous_id wx-88 name city",
            EVENT,
            "identify track",
        }
        page.goto(f"{server.url}/customers/{customer_id}")
        page.wait_for_selector("#consent-state")  # the consent card arrives by htmx
        assert page.inner_text("#customer-name") == "王芳"
        left = english_words(page.evaluate(VISIBLE_TEXT), data)
        assert not left, f"English on the customer page: {sorted(left)}"
        assert "时间线" in page.inner_text("body") and "标识" in page.inner_text("body")

        page.goto(server.url + "/")
        left = english_words(page.evaluate(VISIBLE_TEXT), data)
        assert not left, f"English on the home page: {sorted(left)}"
        assert "查找客户" in page.inner_text("body")
        page.screenshot(path=str(tmp_path / "home-zh.png"), full_page=True)
        context.close()
