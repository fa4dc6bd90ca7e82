"""An agent works a ticket in a real browser, in Chinese: opens it from the list page for a
customer found by phone, changes its status, adds a comment; then finds customers by a
Chinese name on the customer list and pages through them, masked (Debian's Chromium
driven by Playwright: the ``browser`` fixture, ``tests/browser.py``)."""

from __future__ import annotations

import re

import pytest

from tests.browser import send_calls, sign_in, wait_for_events
from tests.factories import call
from tests.live_server import live_server

pytestmark = pytest.mark.slow

PASSWORD = "browser-agent-password-1"
PHONE = "13800138000"


def seed_desk(server) -> None:
    """30 customers called 张伟 (one with a phone), the team 售后服务 and its agent 李娜."""
    calls = [
        call("identify", minutes=n, userId=f"crm-zw-{n}", traits={"name": "张伟"})
        for n in range(29)
    ]
    calls.append(
        call("identify", minutes=29, userId="crm-zw-29", traits={"name": "张伟", "phone": PHONE})
    )
    send_calls(server, calls)
    wait_for_events(server, "phone", PHONE, 1)
    with server.api() as api:
        team = api.post("/api/v1/teams", json={"name": "售后服务"})
        assert team.status_code == 201, team.text
        agent = api.post(
            "/api/v1/admin/users",
            json={
                "email": "li.na@omnishop.cn",
                "display_name": "李娜",
                "role": "agent",
                "password": PASSWORD,
            },
        )
        assert agent.status_code == 201, agent.text
        member = api.post(
            f"/api/v1/teams/{team.json()['id']}/members", json={"user_id": agent.json()["id"]}
        )
        assert member.status_code in (200, 201), member.text


def test_an_agent_works_a_ticket_and_pages_customers_by_name(browser, tmp_path):
    with live_server(tmp_path) as server:
        seed_desk(server)
        context = browser.new_context(locale="zh-CN")
        page = context.new_page()
        page.goto(server.url + "/desk/tickets")
        sign_in(page, "li.na@omnishop.cn", PASSWORD)
        page.wait_for_url("**/desk/tickets")
        assert page.inner_text("h1") == "工单"
        assert "没有符合条件的工单" in page.inner_text("#tickets")

        form = page.locator("#new-ticket form")
        form.locator("input[name=title]").fill("空调漏水，需上门维修")
        form.locator("select[name=type]").select_option("repair")
        form.locator("select[name=priority]").select_option("high")
        form.locator("select[name=team]").select_option(label="售后服务")
        form.locator("input[name=customer]").fill("138 0013 8000")
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/desk/tickets/\d+$"))
        assert page.inner_text("#ticket-title") == "空调漏水，需上门维修"
        assert page.inner_text("#ticket-customer-name") == "张*"
        assert "138****8000" in page.inner_text("#ticket-customer")
        assert page.inner_text("#ticket-state") == "新建"

        status = page.locator("#ticket-status")
        options = status.locator("select[name=status] option").all_inner_texts()
        assert options == ["新建", "处理中", "待客户回复", "已解决", "已关闭"]
        status.locator("select[name=status]").select_option("pending")
        status.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert page.inner_text("#ticket-state") == "待客户回复"
        left = page.locator("#ticket-status select[name=status] option").all_inner_texts()
        assert "新建" not in left  # nothing leads back to "new"

        page.fill(
            "#comment-form textarea[name=text]", "已联系师傅，明天上午上门，客户电话 13800138000"
        )
        page.click("#comment-form button[type=submit]")
        page.wait_for_load_state()
        comments = page.inner_text("#ticket-comments")
        assert "已联系师傅，明天上午上门" in comments and PHONE not in comments
        history = page.inner_text("#ticket-history")
        assert "创建了工单" in history and "将状态从 新建 改为 待客户回复" in history
        assert "添加了评论" in history and "李娜" in history
        page.screenshot(path=str(tmp_path / "ticket.png"), full_page=True)

        page.click("a[href='/desk/tickets']")
        page.wait_for_url("**/desk/tickets")
        row = page.locator("#tickets tbody tr").first
        assert "空调漏水" in row.inner_text() and "张*" in row.inner_text()
        assert "待客户回复" in row.inner_text() and "李娜" in row.inner_text()

        page.click("header nav a[href='/customers']")
        page.wait_for_url("**/customers")
        page.fill("#customer-search input[name=q]", "张伟")
        page.click("#customer-search button[type=submit]")
        page.wait_for_url("**/customers?q=*")
        first = page.locator("#customers tbody tr").all_inner_texts()
        assert len(first) == 25 and all(text.startswith("张*") for text in first)
        first_ids = page.locator("#customers tbody tr").evaluate_all("rows => rows.map(r => r.id)")
        page.click("a[rel=next]")
        page.wait_for_url("**cursor=*")
        rest_ids = page.locator("#customers tbody tr").evaluate_all("rows => rows.map(r => r.id)")
        assert len(rest_ids) == 5 and not set(first_ids) & set(rest_ids)
        assert "张伟" not in page.inner_text("#customers")
        assert page.input_value("#customer-search input[name=q]") == "张伟"
        page.screenshot(path=str(tmp_path / "customers.png"), full_page=True)
        context.close()
