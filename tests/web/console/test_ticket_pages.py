"""The console's ticket pages over HTTP, on SQLite and PostgreSQL: who sees which ticket
(404 otherwise), the customer masked for the role, filters and paging, the status's
allowed transitions, comments, linked conversations and the history, and bad input
answered with a clear, translated 4xx that changes nothing."""

from __future__ import annotations

import re
import time

from sqlalchemy import event, func, select

from omnicx.core.scheduler import Runner
from omnicx.desk.access import load_conversation
from omnicx.desk.assignment import assign
from omnicx.desk.messages import Sender
from omnicx.desk.tickets.models import Ticket, TicketChange, TicketComment
from omnicx.desk.tickets.service import create_ticket
from omnicx.governance.audit import AuditFilter, detail_of, search
from omnicx.governance.service import SYSTEM
from omnicx.identity.models import Customer
from tests.desk.factories import Customers, conversations
from tests.desk.sla.factories import ALWAYS, make_calendar, make_policy, sla_registry
from tests.factories import append_calls, call, make_source, process
from tests.governance.masking_people import sign_in_as
from tests.web.console.desk_people import (
    CUSTOMER_NAME,
    CUSTOMER_PHONE,
    csrf_of,
    desk,
    open_ticket,
    post_on,
    sign_in,
)

ZH = {"Accept-Language": "zh-CN"}


def row_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="ticket-(\d+)"', html)]


def count(db, model) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_ticket_opened_on_the_page_is_seen_by_its_team_only_and_masked(client, db):
    people = desk(db)
    sign_in(client, db, people.agent)
    ticket = open_ticket(client, team=str(people.conversation.team_id), customer=" 138 0013 8000 ")
    page = client.get(f"/desk/tickets/{ticket}")
    assert page.status_code == 200
    assert "空调漏水，需上门维修" in page.text
    assert "张**" in page.text and "138****8000" in page.text
    assert CUSTOMER_NAME not in page.text and CUSTOMER_PHONE not in page.text
    assert f'href="/customers/{people.conversation.customer_id}"' in page.text
    listed = client.get("/desk/tickets")
    assert row_ids(listed.text) == [ticket] and "张**" in listed.text
    assert CUSTOMER_NAME not in listed.text
    # The list showed a customer: audited like the directory, never with the name.
    with db.read() as session:
        entries = [detail_of(e) for e in search(session, AuditFilter(action="customers.list"))]
        views = [detail_of(e) for e in search(session, AuditFilter(action="customer.view"))]
    assert {"rows": 1, "search": False, "unmasked": [], "via": "page.tickets"} in entries
    assert any(v["via"] == "page.ticket" for v in views)

    sign_in(client, db, people.outsider)
    assert row_ids(client.get("/desk/tickets").text) == []
    hidden = client.get(f"/desk/tickets/{ticket}")
    assert hidden.status_code == 404 and "空调漏水" not in hidden.text
    refused = client.post(
        f"/desk/tickets/{ticket}/comments",
        data={"text": "我也来看看", "csrf": csrf_of(client.get("/desk/tickets").text)},
    )
    assert refused.status_code == 404 and count(db, TicketComment) == 0

    sign_in(client, db, people.supervisor)
    plain = client.get(f"/desk/tickets/{ticket}")
    assert plain.status_code == 200 and CUSTOMER_NAME in plain.text


def statements(db, read) -> int:
    """How many SQL statements ``read()`` sends to the database."""
    sent = []

    def count(*_args) -> None:
        sent.append(1)

    engines = {db.engine, db.read_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        read()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    return len(sent)


def test_the_list_costs_the_same_queries_for_2_or_20_tickets(client, db):
    people = desk(db)
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [call("identify", n, userId=f"crm-n1-{n}", traits={"name": f"客户{n}"}) for n in range(20)],
    )
    process(db)
    with db.read() as session:
        customers = list(session.scalars(select(Customer.id).order_by(Customer.id)))

    def open_tickets(how_many: int) -> None:
        with db.write() as session:
            for n in range(how_many):
                create_ticket(
                    session,
                    SYSTEM,
                    people.agent,
                    title=f"工单 {n}",
                    type="repair",
                    customer_id=customers[n % len(customers)],
                    team_id=people.conversation.team_id,
                    owner_id=(people.agent, people.supervisor)[n % 2],
                )

    sign_in(client, db, people.supervisor)
    open_tickets(2)
    client.get("/desk/tickets")  # caches filled (the access policy), as in a running server
    few = statements(db, lambda: client.get("/desk/tickets"))
    open_tickets(18)
    page = client.get("/desk/tickets")
    assert len(row_ids(page.text)) == 20
    assert statements(db, lambda: client.get("/desk/tickets")) == few


def test_filters_and_paging_newest_first(client, db):
    people = desk(db)
    with db.write() as session:
        for n in range(30):
            create_ticket(
                session,
                SYSTEM,
                people.agent,
                title=f"工单 {n}",
                type="invoice" if n % 3 == 0 else "repair",
                priority="urgent" if n == 7 else "normal",
                customer_id=people.conversation.customer_id if n < 2 else None,
                team_id=people.conversation.team_id,
                owner_id=people.agent,
            )
    sign_in(client, db, people.agent)
    first = client.get("/desk/tickets")
    newest = row_ids(first.text)
    assert len(newest) == 25 and newest == sorted(newest, reverse=True)
    older = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert older
    second = client.get(older.group(1).replace("&amp;", "&"))
    rest = row_ids(second.text)
    assert len(rest) == 5 and max(rest) < min(newest)
    assert 'rel="next"' not in second.text and 'rel="first"' in second.text

    def ids(**params) -> list[int]:
        answer = client.get("/desk/tickets", params=params)
        assert answer.status_code == 200, answer.text
        return row_ids(answer.text)

    assert len(ids(type="invoice")) == 10
    [urgent] = ids(priority="urgent")
    assert ids(priority="urgent", status="new") == [urgent] and ids(status="closed") == []
    assert len(ids(view="mine", team=str(people.conversation.team_id))) == 25
    by_phone = ids(customer="13800138000")
    assert len(by_phone) == 2 and ids(customer="伟华") == by_phone
    assert ids(customer_id=str(people.conversation.customer_id)) == by_phone
    # The other team's agent sees none of them, whatever the filter.
    sign_in(client, db, people.outsider)
    assert ids() == [] and ids(customer="13800138000") == []


def test_bad_filters_and_forms_are_clear_4xx_in_the_readers_language(client, db):
    people = desk(db)
    sign_in(client, db, people.agent)
    bad = client.get("/desk/tickets", params={"status": "teleported"})
    assert bad.status_code == 400 and "status is one of new, open" in bad.text
    chinese = client.get("/desk/tickets", params={"team": "销售部"}, headers=ZH)
    assert chinese.status_code == 400 and "team 必须是数字" in chinese.text
    assert client.get("/desk/tickets", params={"cursor": "abc"}).status_code == 400
    one_character = client.get("/desk/tickets", params={"customer": "张"})
    assert one_character.status_code == 400
    token = csrf_of(client.get("/desk/tickets").text)

    def new(**form):
        return client.post("/desk/tickets", data={"csrf": token} | form)

    empty = new(title="  ", type="repair")
    assert empty.status_code == 400 and "a title is 1 to 200 characters" in empty.text
    nobody = new(title="发票", customer="nobody@example.com")
    assert nobody.status_code == 404 and "no customer has the identifier" in nobody.text
    assert 'value="nobody@example.com"' in nobody.text  # the form keeps what was typed
    assert new(title="发票", type="teleport").status_code == 400
    assert new(title="发票", team="999").status_code == 404
    forged = client.post("/desk/tickets", data={"title": "发票", "csrf": "forged"})
    assert forged.status_code == 403 and "the form expired" in forged.text
    assert count(db, Ticket) == 0


def test_the_status_offers_and_takes_only_the_allowed_transitions(client, db):
    people = desk(db)
    sign_in(client, db, people.agent)
    ticket = open_ticket(client, customer=CUSTOMER_PHONE)
    page = client.get(f"/desk/tickets/{ticket}")
    offered = re.search(r'<select name="status">(.*?)</select>', page.text, re.S)
    assert offered
    assert re.findall(r'<option value="(\w+)"', offered.group(1)) == [
        "new",
        "open",
        "pending",
        "resolved",
        "closed",
    ]
    assert post_on(client, ticket, status="pending").status_code == 303
    page = client.get(f"/desk/tickets/{ticket}")
    offered = re.search(r'<select name="status">(.*?)</select>', page.text, re.S)
    assert offered and '"new"' not in offered.group(1)
    back = post_on(client, ticket, status="new")
    assert back.status_code == 409 and "a pending ticket can become open, resolved, closed" in (
        back.text
    )
    for status in ("resolved", "closed"):
        assert post_on(client, ticket, status=status).status_code == 303
    closed = client.get(f"/desk/tickets/{ticket}", headers=ZH)
    assert '<select name="status">' not in closed.text and "已关闭的工单不能再打开" in closed.text
    reopened = post_on(client, ticket, status="open")
    assert reopened.status_code == 409
    with db.read() as session:
        assert session.get(Ticket, ticket).status == "closed"
    history = client.get(f"/desk/tickets/{ticket}").text
    assert "changed status from new to pending" in history
    assert "changed status from resolved to closed" in history
    chinese = client.get(f"/desk/tickets/{ticket}", headers=ZH).text
    assert "将状态从 新建 改为 待客户回复" in chinese
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", chinese)  # a localized time


def test_fields_owner_and_team_follow_the_readers_rights(client, db):
    people = desk(db)
    sign_in(client, db, people.agent)
    ticket = open_ticket(client, team=str(people.conversation.team_id))
    page = client.get(f"/desk/tickets/{ticket}")
    assert 'id="ticket-team"' not in page.text  # an agent cannot move it to another team
    assert post_on(client, ticket, priority="urgent", type="complaint").status_code == 303
    moved = post_on(client, ticket, team=str(people.conversation.team_id + 1))
    assert moved.status_code == 403 and "needs desk:manage" in moved.text
    given = post_on(client, ticket, owner=str(people.outsider))
    assert given.status_code == 403
    assert post_on(client, ticket).status_code == 400  # nothing to change
    assert post_on(client, ticket, owner="张三").status_code == 400
    too_long = post_on(client, ticket, title="长" * 300)
    assert too_long.status_code == 400 and "a title is 1 to 200 characters" in too_long.text
    with db.read() as session:
        row = session.get(Ticket, ticket)
        assert (row.priority, row.type, row.owner_id) == ("urgent", "complaint", people.agent)
    sign_in(client, db, people.supervisor)
    page = client.get(f"/desk/tickets/{ticket}")
    assert 'id="ticket-team"' in page.text and f'<option value="{people.outsider}"' in page.text
    assert post_on(client, ticket, owner=str(people.outsider)).status_code == 303
    history = client.get(f"/desk/tickets/{ticket}").text
    assert "changed priority from high to urgent" in history
    assert re.search(r"changed owner from 坐席\d+ to 坐席\d+", history)


def test_comments_and_linked_conversations(client, db):
    people = desk(db)
    writes = Customers(db)
    writes.write("还有一个问题", thread="c-9-second", sender=Sender(user_id="c-9"), minutes=5)
    writes.write("另一件事", thread="c-9-third", sender=Sender(user_id="c-9"), minutes=6)
    process(db)
    [second, third] = [c for c in conversations(db) if c.id != people.conversation.id]
    with db.write() as session:  # the third goes to another team: not the agent's to see
        loaded = load_conversation(session, SYSTEM, third.id)
        assign(session, loaded, assignee_id=None, team_id="高级客服")
    sign_in(client, db, people.agent)
    ticket = open_ticket(client, team=str(people.conversation.team_id), customer=CUSTOMER_PHONE)
    said = post_on(client, ticket, "/comments", text="已联系师傅，客户电话13800138000")
    assert said.status_code == 303
    page = client.get(f"/desk/tickets/{ticket}")
    assert "已联系师傅" in page.text and CUSTOMER_PHONE not in page.text  # masked, as the API
    assert '<span class="tag" id="ticket-state">open</span>' in page.text  # now worked on
    assert post_on(client, ticket, "/comments", text="   ").status_code == 400
    link = post_on(client, ticket, "/conversations", conversation=str(people.conversation.id))
    assert link.status_code == 303
    page = client.get(f"/desk/tickets/{ticket}")
    assert f'href="/desk/conversations/{people.conversation.id}"' in page.text
    # The customer's other conversations the agent may see are offered; not the third.
    assert f'<option value="{second.id}">' in page.text
    assert f'<option value="{third.id}">' not in page.text
    hidden = post_on(client, ticket, "/conversations", conversation=str(third.id))
    assert hidden.status_code == 404 and "no conversation" in hidden.text
    assert post_on(client, ticket, "/conversations", conversation="abc").status_code == 400
    history = client.get(f"/desk/tickets/{ticket}").text
    assert "added a comment" in history and "linked conversation" in history
    with db.read() as session:
        changes = session.scalars(select(TicketChange.action).order_by(TicketChange.id)).all()
    assert changes == ["created", "comment", "linked"]


def test_the_sla_column_says_due_or_breached(client, db):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, "投诉一秒", ticket_type="complaint", resolution_seconds=1)
    make_policy(db, calendar, "维修一天", ticket_type="repair", resolution_seconds=86400)
    people = desk(db)
    sign_in(client, db, people.agent)
    late = open_ticket(client, type="complaint")
    due = open_ticket(client, type="repair")
    time.sleep(1.2)
    Runner(db, sla_registry()).run_until_idle()
    listed = client.get("/desk/tickets")
    rows = dict(re.findall(r'<tr id="ticket-(\d+)">(.*?)</tr>', listed.text, re.S))
    assert "sla-breached" in rows[str(late)] and "breached" in rows[str(late)]
    assert "sla-due" in rows[str(due)] and "due " in rows[str(due)]
    page = client.get(f"/desk/tickets/{due}", headers=ZH)
    assert "截止" in page.text
    pending = post_on(client, due, status="pending")
    assert pending.status_code == 303
    assert "paused" in client.get(f"/desk/tickets/{due}").text


def test_pages_need_a_signed_in_desk_user_and_the_form_token(client, db):
    people = desk(db)
    for path in ("/desk/tickets", "/desk/tickets/1"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    anonymous = client.post("/desk/tickets/1/comments", data={"text": "x"}, follow_redirects=False)
    assert anonymous.headers["location"] == "/login?next=/desk/tickets/1"
    sign_in_as(client, db, "analyst")
    assert client.get("/desk/tickets").status_code == 403
    assert 'href="/desk/tickets"' not in client.get("/").text
    sign_in(client, db, people.agent)
    assert 'href="/desk/tickets"' in client.get("/").text
    ticket = open_ticket(client)
    forged = post_on(client, ticket, "/comments", text="伪造", csrf="forged")
    assert forged.status_code == 403 and count(db, TicketComment) == 0
    assert client.get("/desk/tickets/999999").status_code == 404
    assert client.get("/desk/tickets/abc").status_code == 422
