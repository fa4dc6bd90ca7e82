"""What a person sees in Chromium on the pages a new user trips over: an unknown address,
the consent form opened at its own address, an erased customer, the customer page on a
390 px phone, and the audit log's details and pages."""

from __future__ import annotations

import httpx
import pytest

from tests.browser import ADMIN_EMAIL, send_calls, sign_in, wait_for_events
from tests.factories import call
from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.slow

PHONE = "13912345678"
LONG_ID = "anon-" + "7f3a9c" * 12  # ids longer than a phone is wide


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("first-hour")) as running:
        send_calls(
            running,
            [
                call(
                    "identify",
                    0,
                    userId="crm-6021",
                    anonymousId=LONG_ID,
                    traits={
                        "name": "王芳",
                        "phone": PHONE,
                        "email": "wang.fang.customer.service@example.com.cn",
                        "address": "浙江省杭州市西湖区文三路 478 号华星时代广场 A 座 1206 室",
                    },
                ),
                call(
                    "track",
                    2,
                    userId="crm-6021",
                    event="WeChat Message Received",
                    properties={"text": "请问我的发票什么时候能开好?" * 4},
                    context={"channel": "wechat"},
                ),
                call(
                    "identify",
                    4,
                    userId="crm-6022",
                    traits={"name": "赵磊", "phone": "13700001111"},
                ),
            ],
        )
        wait_for_events(running, "phone", PHONE, 2)
        wait_for_events(running, "phone", "13700001111", 1)
        yield running


def customer_id(server: LiveServer, phone: str) -> int:
    with server.api() as api:
        found = api.get("/api/v1/customers/lookup", params={"type": "phone", "value": phone})
        return int(found.json()["id"])


@pytest.fixture
def page(browser, server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/login")
    sign_in(page, ADMIN_EMAIL, server.env["OMNICX_ADMIN_PASSWORD"])
    page.wait_for_url("**/customers")
    yield page
    context.close()


def test_an_unknown_page_is_a_page_for_people_and_json_for_programs(browser, server):
    page = browser.new_page()
    response = page.goto(server.url + "/customers/42/nothing-here")
    assert response.status == 404 and "text/html" in response.headers["content-type"]
    assert page.inner_text("h1") == "Page not found"
    assert "There is no page at /customers/42/nothing-here" in page.inner_text("[role=alert]")
    assert page.is_visible("header .brand") and page.is_visible("a[href='/']")
    assert '{"error"' not in page.content()
    page.close()
    # The same address for a program, and an API address even for a browser: JSON.
    program = httpx.get(server.url + "/customers/42/nothing-here")
    assert program.json()["error"]["code"] == "not_found"
    api = httpx.get(server.url + "/api/v1/nothing", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_the_consent_form_at_its_own_address_is_a_whole_page_with_no_choice_made(page, server):
    wang = customer_id(server, PHONE)
    page.goto(f"{server.url}/customers/{wang}/consent")
    assert page.is_visible("header .brand")  # the site's header: a page, not a fragment
    background = page.eval_on_selector("#consent", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(255, 255, 255)"  # styled as a card
    assert page.is_visible(f"a[href='/customers/{wang}']")
    radios = page.locator("#consent-form input[name=granted]")
    assert radios.count() == 2
    assert not any(radios.nth(i).is_checked() for i in range(2)), "a choice made beforehand"
    page.select_option("#consent-form select[name=purpose]", "marketing")
    page.select_option("#consent-form select[name=channel]", "sms")
    page.click("#consent-form button[type=submit]")  # nothing chosen: the browser asks
    assert page.locator("#consent-history").inner_text().startswith("No decision recorded")
    page.check("#consent-form input[value=yes]")
    page.fill("#consent-form input[name=note]", "门店当面确认")
    page.click("#consent-form button[type=submit]")
    page.wait_for_selector("#consent-history >> text=marketing on sms")
    assert "granted" in page.inner_text("#consent-history")
    assert "门店当面确认" in page.inner_text("#consent-history")


def test_an_erased_customer_says_so_and_takes_no_consent(page, server):
    zhao = customer_id(server, "13700001111")
    server.cli("privacy", "erase", "--customer", str(zhao), "--reason", "客户要求删除", "--yes")
    page.goto(f"{server.url}/customers/{zhao}")
    notice = page.inner_text("#erased")
    assert "erased" in notice and "Nothing can be recorded" in notice
    assert page.locator("#identifiers, #traits, #orders, #timeline").count() == 0
    page.goto(f"{server.url}/customers/{zhao}/consent")
    assert "was erased" in page.inner_text("#consent")
    assert page.locator("#consent-form").count() == 0
    # A form sent anyway (an old tab) is refused with the reason.
    csrf = page.eval_on_selector("header input[name=csrf]", "e => e.value")
    refused = page.request.post(
        f"{server.url}/customers/{zhao}/consent",
        form={"csrf": csrf, "purpose": "marketing", "channel": "*", "granted": "yes"},
        headers={"Accept": "text/html", "Accept-Language": "en"},
    )
    assert refused.status == 409
    assert f"customer {zhao} was erased: no consent can be recorded" in refused.text()
    with server.api() as api:
        by_api = api.post(
            f"/api/v1/customers/{zhao}/consent",
            json={"purpose": "marketing", "channel": "*", "granted": True},
        )
    assert by_api.status_code == 409 and by_api.json()["error"]["code"] == "conflict"


def test_the_customer_page_fits_a_390_px_phone(browser, server, tmp_path):
    wang = customer_id(server, PHONE)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(server.url + "/login")
    sign_in(page, ADMIN_EMAIL, server.env["OMNICX_ADMIN_PASSWORD"])
    page.wait_for_url("**/customers")
    page.goto(f"{server.url}/customers/{wang}")
    page.wait_for_selector("#consent-state")  # the htmx part is in too
    assert page.inner_text("#customer-name") == "王芳"
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 390, f"the page is {wide} px wide: it scrolls sideways"
    assert LONG_ID in page.inner_text("#identifiers")
    page.screenshot(path=str(tmp_path / "customer-390px.png"), full_page=True)
    context.close()


def test_the_audit_page_reads_as_text_and_turns_pages(page, server):
    page.goto(server.url + "/admin/audit?action=customer.view")
    details = page.inner_text("table")
    assert "unmasked" in details and "False" not in details and "[]" not in details
    page.goto(server.url + "/admin/audit?limit=2")
    first = page.locator("tbody tr td:first-child").all_inner_texts()
    assert len(first) == 2 and page.locator("text=Newer entries").count() == 0
    page.click("text=Older entries")
    second = page.locator("tbody tr td:first-child").all_inner_texts()
    assert int(second[0]) < int(first[-1])
    page.click("text=Newer entries")
    assert page.locator("tbody tr td:first-child").all_inner_texts() == first
