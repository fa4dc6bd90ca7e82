"""A senior agent reads the masked customer page in a real browser and reveals the phone
with a reason: the vendored htmx posts the form and swaps the value in."""

from __future__ import annotations

import pytest

from tests.browser import send_calls, sign_in, wait_for_events
from tests.live_server import live_server

pytestmark = pytest.mark.slow

PASSWORD = "browser-senior-agent-1"


def test_a_senior_agent_reveals_the_phone_in_the_browser(browser, tmp_path):
    with live_server(tmp_path) as server:
        send_calls(
            server,
            [
                {
                    "type": "identify",
                    "userId": "crm-88",
                    "traits": {"name": "刘洋", "phone": "13712345678", "email": "ly@126.com"},
                }
            ],
        )
        wait_for_events(server, "phone", "13712345678", 1)
        with server.api() as api:
            created = api.post(
                "/api/v1/admin/users",
                json={
                    "email": "senior@corp.cn",
                    "display_name": "Senior",
                    "role": "senior_agent",
                    "password": PASSWORD,
                },
            )
            assert created.status_code == 201, created.text
            customer_id = api.get(
                "/api/v1/customers/lookup", params={"type": "user_id", "value": "crm-88"}
            ).json()["id"]

        page = browser.new_page()
        page.goto(f"{server.url}/customers/{customer_id}")
        sign_in(page, "senior@corp.cn", PASSWORD)
        page.wait_for_url(f"**/customers/{customer_id}")
        assert page.inner_text("#customer-name") == "刘*"
        assert "13712345678" not in page.content()
        row = page.locator("#traits tr", has_text="phone")
        assert "137****5678" in row.inner_text()
        row.locator("input[name=reason]").fill("customer asked for a callback")
        row.locator("button", has_text="Reveal").click()
        row.locator("span.revealed").wait_for(timeout=10_000)
        assert row.locator("span.revealed").inner_text() == "13712345678"
        page.close()
