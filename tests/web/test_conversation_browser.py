"""An agent works a conversation in a real browser (Debian's Chromium through Playwright,
``tests/browser.py``) against a live ``omnicx serve`` loaded with the desk's demo: the
customer panel masked for a basic agent, a reply sent with Ctrl+Enter, a canned reply
inserted by typing "/inv", the shortcut help, "e" to resolve and "g i" to the inbox."""

from __future__ import annotations

import pytest

from omnicx.desk.demo import DEMO_PASSWORD
from tests.browser import sign_in
from tests.desk.files import pdf as pdf_file
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

AGENT = "li.na@omnishop.cn"  # a basic agent of 售后服务 in the demo


def _open_conversation_of(server: LiveServer, email: str) -> tuple[int, str]:
    """One of the agent's open conversations and its customer's name (read by admin)."""
    with server.api() as api:
        teams = api.get("/api/v1/teams").json()
        team = next(t for t in teams if t["name"] == "售后服务")
        members = api.get(f"/api/v1/teams/{team['id']}/members").json()
        user_id = next(m["user_id"] for m in members if m["email"] == email)
        found = api.get(
            "/api/v1/conversations", params={"assignee": user_id, "status": "open"}
        ).json()["items"]
        assert found, "the demo gives the agent open conversations"
        detail = api.get(f"/api/v1/conversations/{found[0]['id']}").json()
        return int(detail["id"]), str(detail["customer"]["name"])


def test_an_agent_replies_inserts_a_canned_reply_and_resolves_by_keyboard(browser, tmp_path):
    server = LiveServer(tmp_path)
    server.cli("desk", "seed")
    server.start()
    try:
        conversation_id, name = _open_conversation_of(server, AGENT)
        page = browser.new_page(locale="zh-CN")
        page.goto(f"{server.url}/desk/conversations/{conversation_id}")
        sign_in(page, AGENT, DEMO_PASSWORD)
        page.wait_for_url(f"**/desk/conversations/{conversation_id}")

        # The customer panel loads on its own, masked for a basic agent, no reveal forms.
        panel_name = page.locator("#panel-name")
        panel_name.wait_for()
        shown = panel_name.inner_text()
        assert shown != name and shown.startswith(name[0]) and "*" in shown
        assert name not in page.inner_text("#customer-panel")
        assert page.locator("#customer-panel form.reveal").count() == 0
        assert page.locator("#panel-timeline tr").count() > 0

        # A reply, sent with Ctrl+Enter.
        page.click("#reply-text")
        page.keyboard.type("您好，我们马上为你处理。")
        page.keyboard.press("Control+Enter")
        page.locator("#thread .message-out", has_text="我们马上为你处理").wait_for()
        assert page.input_value("#reply-text") == ""
        assert "排队发送中" in page.locator("#thread .message-out").last.inner_text()

        # A canned reply: "/inv" lists /invoice, Enter inserts it filled in as the agent
        # may see the customer.
        page.keyboard.type("/inv")
        page.locator("#canned-picker [data-code=invoice]").wait_for()
        page.keyboard.press("Enter")
        page.wait_for_function(
            "document.getElementById('reply-text').value.includes('电子发票已开具')"
        )
        inserted = page.input_value("#reply-text")
        assert inserted.startswith(shown + "您好") and name not in inserted
        assert "{{" not in inserted and "/inv" not in inserted
        page.keyboard.press("Control+Enter")
        page.locator("#thread .message-out", has_text="电子发票已开具").wait_for()

        # A file: picked, uploaded at once (a chip), sent with the reply, downloadable.
        page.set_input_files(
            "#reply-file",
            files=[{"name": "电子发票.pdf", "mimeType": "application/pdf", "buffer": pdf_file()}],
        )
        page.locator("#reply-files li", has_text="电子发票.pdf").wait_for()
        page.fill("#reply-text", "发票文件请查收")
        page.keyboard.press("Control+Enter")
        sent = page.locator("#thread .message-out", has_text="发票文件请查收")
        sent.wait_for()
        assert page.locator("#reply-files li").count() == 0
        link = sent.locator("a.attachment-name", has_text="电子发票.pdf")
        with page.expect_download() as downloading:
            link.click()
        assert downloading.value.suggested_filename == "电子发票.pdf"

        # The live contract: when /static/console.js hears that the conversation changed,
        # it triggers "live" on every [data-live-conversation] part, which reloads itself.
        with server.api() as api:
            noted = api.post(
                f"/api/v1/conversations/{conversation_id}/messages",
                json={"kind": "note", "text": "主管备注：客户是老客户，优先处理"},
            )
            assert noted.status_code == 201, noted.text
        assert page.locator("#thread .message-note", has_text="优先处理").count() == 0
        page.evaluate(
            f"""document.querySelectorAll('[data-live-conversation="{conversation_id}"]')
                .forEach(part => htmx.trigger(part, 'live'))"""
        )
        page.locator("#thread .message-note", has_text="优先处理").wait_for()

        # A part the agent works in waits: with the snooze menu open ("s"), a change made
        # elsewhere shows only once the menu is closed — also when the refresh was already
        # on its way as the menu opened (the request is held at the network until then).
        on_the_way: list = []
        page.route("**/summary", lambda route: on_the_way.append(route))
        page.evaluate("htmx.trigger(document.getElementById('summary'), 'live')")
        while not on_the_way:
            page.wait_for_timeout(20)
        page.click("#conversation-customer")
        page.keyboard.press("s")
        assert page.locator("#snooze-menu").get_attribute("open") is not None
        with server.api() as api:
            labelled = api.post(
                f"/api/v1/conversations/{conversation_id}/labels", json={"labels": ["老客户"]}
            )
            assert labelled.status_code == 200, labelled.text
        page.evaluate("htmx.trigger(document.getElementById('summary'), 'live')")
        on_the_way[0].continue_()
        page.unroute("**/summary")
        page.wait_for_timeout(500)
        assert "老客户" not in page.inner_text("#conversation-tags")
        page.click("#snooze-menu > summary")
        page.locator("#conversation-tags", has_text="老客户").wait_for()

        # Shortcuts wait while the reply box has the focus; outside it, "?" shows them.
        page.click("#reply-text")
        page.keyboard.press("e")
        assert page.input_value("#reply-text") == "e"
        page.fill("#reply-text", "")
        page.click("#conversation-customer")
        page.keyboard.press("?")
        assert page.locator("#shortcuts-help").is_visible()
        assert "键盘快捷键" in page.inner_text("#shortcuts-help")
        page.keyboard.press("Escape")
        assert not page.locator("#shortcuts-help").is_visible()

        # "e" resolves: the head says so once the server answered.
        page.keyboard.press("e")
        page.locator("#conversation-status", has_text="已解决").wait_for()
        assert page.locator("#reopen-button").is_visible()
        page.screenshot(path=str(tmp_path / "conversation.png"), full_page=True)

        # "g i": back to the inbox.
        page.click("#conversation-customer")
        page.keyboard.press("g")
        page.keyboard.press("i")
        page.wait_for_url("**/desk")
        page.close()
        with server.api() as api:
            after = api.get(f"/api/v1/conversations/{conversation_id}").json()
            sent = api.get(f"/api/v1/conversations/{conversation_id}/messages").json()["items"]
        assert after["status"] == "resolved"
        texts = [m["text"] for m in sent if m["direction"] == "out"]
        assert "您好，我们马上为你处理。" in texts
        assert any(t.startswith(shown + "您好，您的电子发票已开具") for t in texts)
    finally:
        server.stop()
