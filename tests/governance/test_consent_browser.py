"""In a real browser: the customer page loads its consent part with htmx, and an agent
records a spoken opt-in that replaces the part in place (CSRF token and all)."""

from __future__ import annotations

import pytest

from tests.browser import ADMIN_EMAIL, send_calls, sign_in, wait_for_events
from tests.factories import call
from tests.live_server import live_server

pytestmark = pytest.mark.slow


def test_record_a_consent_decision_on_the_customer_page(browser, tmp_path):
    with live_server(tmp_path) as server:
        send_calls(
            server,
            [
                call(
                    "identify",
                    0,
                    userId="crm-88",
                    traits={"name": "赵敏", "phone": "13612345678"},
                    context={"consent": {"categoryPreferences": {"Analytics": False}}},
                )
            ],
        )
        wait_for_events(server, "user_id", "crm-88", 1)
        with server.api() as api:
            customer = api.get(
                "/api/v1/customers/lookup", params={"type": "user_id", "value": "crm-88"}
            ).json()["id"]

        page = browser.new_page()
        page.goto(f"{server.url}/login?next=/customers/{customer}")
        sign_in(page, ADMIN_EMAIL, server.env["OMNICX_ADMIN_PASSWORD"])
        page.wait_for_url(f"**/customers/{customer}")

        cell = "#consent td[data-purpose='{}'][data-channel='{}']"
        page.wait_for_selector(cell.format("marketing", "sms"))  # loaded by htmx
        assert page.get_attribute(cell.format("marketing", "sms"), "data-granted") == "no"
        assert page.get_attribute(cell.format("analytics", "web"), "data-granted") == "no"
        assert "event" in page.inner_text("#consent-history")

        page.select_option("#consent-form select[name=purpose]", "marketing")
        page.select_option("#consent-form select[name=channel]", "sms")
        page.check("#consent-form input[name=granted][value=yes]")
        page.fill("#consent-form input[name=note]", "客户来电同意短信营销")
        page.click("#consent-form button[type=submit]")
        page.wait_for_selector(cell.format("marketing", "sms") + "[data-granted='yes']")

        assert page.url.endswith(f"/customers/{customer}")  # replaced in place, no reload
        assert "客户来电同意短信营销" in page.inner_text("#consent-history")
        assert page.get_attribute(cell.format("marketing", "email"), "data-granted") == "no"
        with server.api() as api:
            state = api.get(f"/api/v1/customers/{customer}/consent").json()["state"]
        assert state["marketing"]["sms"]["granted"] is True
        page.screenshot(path=str(tmp_path / "consent.png"), full_page=True)
        page.close()
