"""The console's conversation page over HTTP, on SQLite and PostgreSQL: who may open it
(another team's agent gets 404, everywhere), what each role sees of the customer, the
thread and the customer panel fragments, and what is audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from omnicx.desk.messages import Sender
from omnicx.desk.models import Conversation
from omnicx.desk.replies import post_message
from omnicx.governance.audit import AuditFilter, detail_of, search
from tests.desk.factories import Customers, conversations
from tests.factories import append_calls, call, make_token, process
from tests.web.console_scene import (
    MASKED_NAME,
    MASKED_PHONE,
    NAME,
    PHONE,
    person,
    scene,
    sign_in,
)

HTMX = {"HX-Request": "true"}


def page_of(scene_) -> str:
    return f"/desk/conversations/{scene_.conversation_id}"


def test_the_page_needs_a_signed_in_desk_reader(client, db):
    s = scene(db)
    path = page_of(s)
    bounced = client.get(path, follow_redirects=False)
    assert bounced.status_code == 303 and bounced.headers["location"] == f"/login?next={path}"
    fragment = client.get(f"{path}/thread", headers=HTMX)
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"] == f"/login?next={path}"
    analyst = person(db, None, "analyst")
    sign_in(client, analyst)
    refused = client.get(path)
    assert refused.status_code == 403 and "Your role may not see the desk." in refused.text
    assert client.get(f"{path}/customer", headers=HTMX).status_code == 403


def test_another_teams_agent_gets_404_on_the_page_its_fragments_and_its_posts(client, db):
    s = scene(db)
    path = page_of(s)
    csrf = sign_in(client, s.outsider)
    for part in ("", "/summary", "/thread", "/customer", "/canned?q=inv"):
        answer = client.get(path + part, headers=HTMX)
        assert answer.status_code == 404, part
        assert NAME not in answer.text and MASKED_NAME not in answer.text
    for action, form in [
        ("messages", {"text": "你好"}),
        ("status", {"status": "resolved"}),
        ("labels", {"add": "投诉"}),
        ("canned", {"code": "invoice"}),
    ]:
        answer = client.post(f"{path}/{action}", data={**form, "csrf": csrf}, headers=HTMX)
        assert answer.status_code == 404, action
    missing = client.get("/desk/conversations/999999", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "no conversation 999999" in missing.text
    # The other team's agent changed nothing.
    sign_in(client, s.agent)
    thread = client.get(f"{path}/thread", headers=HTMX).text
    assert thread.count('class="message message-') == 1


def test_a_basic_agent_sees_the_customer_masked_and_without_reveal_controls(client, db):
    s = scene(db, orders=5)
    sign_in(client, s.agent)
    page = client.get(page_of(s))
    assert page.status_code == 200
    head = page.text
    assert MASKED_NAME in head and MASKED_PHONE in head
    assert NAME not in head and PHONE not in head  # the message quotes the phone: masked too
    assert f'data-live-conversation="{s.conversation_id}"' in head
    assert '<script src="/static/console.js" defer></script>' in head
    panel = client.get(page_of(s) + "/customer", headers=HTMX)
    assert panel.status_code == 200
    assert MASKED_NAME in panel.text and MASKED_PHONE in panel.text
    assert NAME not in panel.text and PHONE not in panel.text
    assert 'class="reveal"' not in panel.text
    # The agent's role sees the newest 3 orders of 5, newest first.
    orders = re.findall(r"SO-(\d)", panel.text.split('id="panel-orders"')[1].split("</table>")[0])
    assert orders == ["5", "4", "3"]
    assert "高关怀" in panel.text  # tags
    assert f'href="/desk/conversations/{s.conversation_id}"' not in panel.text  # "this one"


def test_a_senior_agent_may_reveal_with_a_reason_through_the_360_pages_form(client, db):
    s = scene(db)
    csrf = sign_in(client, s.senior)
    panel = client.get(page_of(s) + "/customer", headers=HTMX)
    assert panel.status_code == 200 and MASKED_NAME in panel.text and NAME not in panel.text
    fields = re.findall(r'name="field" value="([^"]+)"', panel.text)
    assert "traits.name" in fields
    assert f'hx-post="/customers/{s.customer_id}/reveal"' in panel.text
    revealed = client.post(
        f"/customers/{s.customer_id}/reveal",
        data={"field": "traits.name", "reason": "客户来电核实身份", "csrf": csrf},
        headers=HTMX,
    )
    assert revealed.status_code == 200 and NAME in revealed.text
    supervisor = person(db, None, "supervisor")
    sign_in(client, supervisor)
    plain = client.get(page_of(s) + "/customer", headers=HTMX)
    assert NAME in plain.text and PHONE in plain.text


def test_page_thread_and_panel_are_audited_as_customer_views(client, db):
    s = scene(db)
    sign_in(client, s.senior)
    client.get(page_of(s))
    client.get(page_of(s) + "/thread", headers=HTMX)
    client.get(page_of(s) + "/customer", headers=HTMX)
    with db.read() as session:
        entries = search(session, AuditFilter(action="customer.view"))
        vias = [detail_of(e)["via"] for e in entries if e.target_id == str(s.customer_id)]
    assert vias.count("page.conversation") == 3


def test_the_thread_tells_in_out_and_notes_apart(client, db):
    s = scene(db)
    csrf = sign_in(client, s.agent)
    path = page_of(s)
    client.post(
        f"{path}/messages", data={"text": "您好，师傅明天上门。", "csrf": csrf}, headers=HTMX
    )
    client.post(
        f"{path}/messages",
        data={"kind": "note", "text": "客户很着急，优先安排", "csrf": csrf},
        headers=HTMX,
    )
    thread = client.get(f"{path}/thread", headers=HTMX).text
    directions = re.findall(r'data-direction="(\w+)"', thread)
    assert directions == ["in", "out", "note"]
    assert 'data-delivery="queued"' in thread  # demo web chat: no adapter instance yet
    assert "客户很着急" in thread and "私密备注" not in thread  # English reader
    assert "Private note" in thread


def test_the_360_page_and_the_panel_read_events_as_sentences(client, db):
    s = scene(db, orders=1)
    supervisor = person(db, None, "supervisor")
    sign_in(client, supervisor)
    chinese = {"Accept-Language": "zh-CN"}
    page = client.get(f"/customers/{s.customer_id}", headers=chinese).text
    timeline = page.split('id="timeline"')[1]
    assert "下单 ¥1,299.00" in timeline and "发来网页聊天消息" in timeline
    assert "Order Completed" not in timeline and "Message Received" not in timeline
    panel = client.get(page_of(s) + "/customer", headers=HTMX | chinese).text
    assert "下单 ¥1,299.00" in panel.split('id="panel-timeline"')[1]


def test_the_panel_lists_only_the_conversations_the_agent_may_see(client, db):
    s = scene(db)
    people = Customers(db)
    for channel, thread in (("email", "c-9-mail"), ("wechat", "c-9-wx")):
        people.write(
            "发票什么时候开？", channel=channel, thread=thread, sender=Sender(user_id="c-9")
        )
    process(db)
    mail, wechat = [c for c in conversations(db) if c.id != s.conversation_id]
    supervisor = {"Authorization": f"Bearer {make_token(db, 'supervisor')}"}
    teams = client.get("/api/v1/teams", headers=supervisor).json()
    other = next(t["id"] for t in teams if t["name"] == "高级客服")
    moved = client.post(
        f"/api/v1/conversations/{mail.id}/assign", json={"team_id": other}, headers=supervisor
    )
    assert moved.status_code == 200, moved.text
    sign_in(client, s.agent)
    panel = client.get(page_of(s) + "/customer", headers=HTMX).text
    listed = panel.split('id="panel-conversations"')[1].split("</ul>")[0]
    assert {int(n) for n in re.findall(r"#(\d+)", listed)} == {s.conversation_id, wechat.id}
    assert f'href="/desk/conversations/{wechat.id}"' in listed


@contextmanager
def counted_queries(db) -> Iterator[list[str]]:
    """The SQL statements run on the database while the block runs."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engines = {db.engine, db.read_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


def test_the_thread_and_the_panel_run_as_many_queries_for_many_rows_as_for_few(client, db):
    s = scene(db, orders=1)
    csrf = sign_in(client, s.agent)
    path = page_of(s)
    client.post(f"{path}/messages", data={"text": "您好", "csrf": csrf}, headers=HTMX)

    def queries(part: str) -> int:
        with counted_queries(db) as seen:
            assert client.get(f"{path}/{part}", headers=HTMX).status_code == 200
        return len(seen)

    parts = ("thread", "customer", "summary")
    for part in parts:  # warm the process's caches (the role policies)
        queries(part)
    few = {part: queries(part) for part in parts}
    for n in range(6):
        kind = "note" if n % 2 else "reply"
        client.post(f"{path}/messages", data={"kind": kind, "text": f"第{n}条", "csrf": csrf})
    people = Customers(db)
    for n in range(3):
        people.write("还有问题", channel="sms", thread=f"c-9-sms-{n}", sender=Sender(user_id="c-9"))
    append_calls(
        db,
        people.source_id,
        [
            call("track", 100 + n, userId="c-9", event="Order Completed",
                 properties={"order_id": f"SO-X{n}", "total": 99, "currency": "CNY"})
            for n in range(6)
        ],
    )  # fmt: skip
    process(db)
    many = {part: queries(part) for part in parts}
    assert many == few


def test_the_thread_shows_the_newest_messages_and_earlier_ones_on_request(client, db):
    s = scene(db)
    with db.write() as session:
        conversation = session.get(Conversation, s.conversation_id)
        for n in range(1, 231):
            post_message(
                session,
                conversation,
                author_user_id=s.agent.user_id,
                actor="test",
                kind="note",
                text=f"备注第{n}条",
            )
    sign_in(client, s.agent)
    page = client.get(f"/desk/conversations/{s.conversation_id}")
    assert page.status_code == 200
    # The customer's message and the first 30 notes are older than the newest 200.
    assert "备注第230条" in page.text and "备注第31条" in page.text
    assert "备注第30条" not in page.text and "空调不制冷" not in page.text
    assert 'name="show" value="200"' in page.text and 'id="show-earlier"' in page.text
    earlier = client.get(f"/desk/conversations/{s.conversation_id}/thread", params={"show": 400})
    assert earlier.status_code == 200
    assert "备注第1条" in earlier.text and "空调不制冷" in earlier.text
    assert 'name="show" value="400"' in earlier.text and "show-earlier" not in earlier.text
    refused = client.get(f"/desk/conversations/{s.conversation_id}/thread", params={"show": 0})
    assert refused.status_code == 422
