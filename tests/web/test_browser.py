"""A person signs in with a real browser and looks a customer up by phone in the list
page's search box (Debian's Chromium driven by Playwright: the ``browser`` fixture,
``tests/browser.py``)."""

from __future__ import annotations

import pytest

from tests.browser import ADMIN_EMAIL, send_calls, sign_in, wait_for_events
from tests.factories import call
from tests.live_server import live_server

pytestmark = pytest.mark.slow


def test_sign_in_find_by_phone_and_read_the_360_page(browser, tmp_path):
    with live_server(tmp_path) as server:
        send_calls(
            server,
            [
                call(
                    "identify",
                    0,
                    userId="crm-77",
                    traits={
                        "name": "刘洋",
                        "phone": "13712345678",
                        "email": "liu.yang@126.com",
                    },
                ),
                call(
                    "track",
                    3,
                    anonymousId="wx-77",
                    event="WeChat Message Received",
                    properties={"text": "订单什么时候发货?"},
                    context={"channel": "wechat", "traits": {"phone": "+86 137 1234 5678"}},
                ),
            ],
        )
        wait_for_events(server, "phone", "13712345678", 2)
        page = browser.new_page()
        page.goto(server.url + "/customers")
        assert "/login" in page.url
        sign_in(page, ADMIN_EMAIL, "wrong password")
        assert page.get_by_role("alert").inner_text() == "email or password is wrong"
        sign_in(page, ADMIN_EMAIL, server.env["OMNICX_ADMIN_PASSWORD"])
        page.wait_for_url("**/customers")
        page.fill("#customer-search input[name=q]", "137 1234 5678")
        page.click("#customer-search button[type=submit]")
        page.wait_for_url("**/customers/*")
        assert page.inner_text("#customer-name") == "刘洋"
        assert "+8613712345678" in page.inner_text("#identifiers")
        assert "订单什么时候发货?" in page.inner_text("#timeline")
        page.screenshot(path=str(tmp_path / "customer-360.png"), full_page=True)
        page.close()
