"""A person signs in with a real browser and looks a customer up by phone.

Debian's Chromium driven by Playwright (no browser download): the flags keep it off
the network.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest

from tests.factories import call
from tests.live_server import live_server

CHROMIUM = "/usr/bin/chromium"
ADMIN_EMAIL = "admin@omnicx.local"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("OMNICX_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail("chromium is required here (scripts/ensure-chromium installs it)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def test_sign_in_find_by_phone_and_read_the_360_page(browser, tmp_path):
    with live_server(tmp_path) as server:
        sent = httpx.post(
            f"{server.url}/v1/batch",
            auth=(server.write_key, ""),
            json={
                "batch": [
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
                ]
            },
        )
        assert sent.status_code == 200, sent.text
        wait_for_events(server, "phone", "13712345678", 2)
        page = browser.new_page()
        page.goto(server.url + "/customers")
        assert "/login" in page.url
        page.fill("input[name=email]", ADMIN_EMAIL)
        page.fill("input[name=password]", "wrong password")
        page.click("button[type=submit]")
        assert page.get_by_role("alert").inner_text() == "email or password is wrong"
        page.fill("input[name=email]", ADMIN_EMAIL)
        page.fill("input[name=password]", server.env["OMNICX_ADMIN_PASSWORD"])
        page.click("button[type=submit]")
        page.wait_for_url("**/customers")
        page.select_option("select[name=type]", "phone")
        page.fill("input[name=value]", "137 1234 5678")
        page.click("form[action='/customers'] button[type=submit]")
        page.wait_for_url("**/customers/*")
        assert page.inner_text("#customer-name") == "刘洋"
        assert "+8613712345678" in page.inner_text("#identifiers")
        assert "订单什么时候发货?" in page.inner_text("#timeline")
        page.screenshot(path=str(tmp_path / "customer-360.png"), full_page=True)
        page.close()


def wait_for_events(server, kind: str, value: str, events: int, timeout: float = 20.0) -> None:
    """Poll the 360 read until the background pipeline has projected the events."""
    deadline = time.monotonic() + timeout
    with server.api() as api:
        while time.monotonic() < deadline:
            found = api.get("/api/v1/customers/lookup", params={"type": kind, "value": value})
            if found.status_code == 200 and found.json()["event_count"] >= events:
                return
            time.sleep(0.1)
    raise AssertionError(f"{kind} {value} did not reach {events} events in {timeout}s")
