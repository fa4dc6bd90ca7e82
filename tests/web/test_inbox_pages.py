"""The inbox page (/desk) and its fragment (/desk/rows): tabs and counts, filters, the
search, masked names and previews, SLA badges, paging, audit, refusals, and a constant
number of queries whatever the page's length. SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import event

from omnicx.desk.messages import Sender
from omnicx.governance.audit import AuditFilter, detail_of, search
from tests.desk.factories import Customers, conversations, make_agent, make_rule
from tests.desk.sla.factories import ALWAYS, make_calendar, make_policy
from tests.factories import append_calls, call, process
from tests.governance.test_admin_pages import sign_in_as
from tests.web.test_auth_pages import post_login

AGENT_PASSWORD = "correct horse battery staple 1"  # tests.desk.factories.make_agent's


def sign_in_agent(client, db, team: str) -> int:
    agent, _ = make_agent(db, team)
    assert post_login(client, f"agent{_agent_number(db, agent)}@corp.cn", AGENT_PASSWORD)
    return agent


def _agent_number(db, user_id: int) -> str:
    from omnicx.governance.users import get_user

    with db.read() as session:
        return get_user(session, user_id).email.removeprefix("agent").split("@")[0]


def _people(db, n: int = 1) -> Customers:
    """Customers with names and phones, each writing once (the rule routes to 售后服务)."""
    people = Customers(db)
    calls = [
        call(
            "identify",
            userId=f"c-{i}",
            traits={"name": f"王芳{i}号", "phone": f"1380013{8000 + i}"},
        )
        for i in range(n)
    ]
    append_calls(db, people.source_id, calls)
    for i in range(n):
        people.write(
            f"我的电话是1380013{8000 + i}，洗衣机漏水",
            thread=f"c-{i}",
            sender=Sender(user_id=f"c-{i}"),
            minutes=1 + i,
        )
    process(db)
    return people


def rows_of(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-conversation="(\d+)"', html)]


def test_an_agent_sees_their_inbox_masked_with_tabs_and_counts(client, db):
    make_rule(db, "售后服务")
    agent = sign_in_agent(client, db, "售后服务")
    _people(db, 2)
    page = client.get("/desk")
    assert page.status_code == 200, page.text
    text = page.text
    assert "data-live-inbox" in text and 'hx-trigger="live"' in text
    assert '<script src="/static/console.js" defer></script>' in text
    assert '<a href="/desk">Inbox</a>' in text  # the nav link, after Overview
    mine = [c.id for c in conversations(db) if c.assignee_id == agent]
    assert sorted(rows_of(text)) == sorted(mine) and mine
    assert "王芳0号" not in text and "13800138000" not in text  # masked for an agent
    assert "洗衣机漏水" in text  # the preview, its phone masked
    counts = dict(re.findall(r'data-tab="(\w+)"[^>]*>[^<]*<span class="count">(\d+)</span>', text))
    assert counts["mine"] == str(len(mine)) and counts["all"] == "2"
    for conversation_id in mine:
        assert f'href="/desk/conversations/{conversation_id}"' in text


def test_a_supervisor_sees_names_filters_search_and_the_read_is_audited(client, db):
    make_rule(db, "售后服务")
    make_agent(db, "售后服务", capacity=0)
    _people(db, 3)
    sign_in_as(client, db, "supervisor")
    page = client.get("/desk")
    assert page.status_code == 200
    assert "王芳0号" in page.text and len(rows_of(page.text)) == 3  # all, in plain
    assert rows_of(client.get("/desk", params={"view": "unassigned"}).text) == rows_of(page.text)
    assert rows_of(client.get("/desk", params={"channel": "sms"}).text) == []
    assert rows_of(client.get("/desk", params={"status": "resolved"}).text) == []
    found = client.get("/desk", params={"q": "王芳1号"}).text
    by_thread = {c.thread: c.id for c in conversations(db)}
    assert rows_of(found) == [by_thread["c-1"]]
    assert rows_of(client.get("/desk", params={"q": "138 0013 8002"}).text) == [by_thread["c-2"]]
    with db.read() as session:
        entries = [detail_of(e) for e in search(session, AuditFilter(action="customers.list"))]
    inbox_reads = [e for e in entries if e["via"] == "page.desk_inbox"]
    assert len(inbox_reads) == 6
    searched = [e for e in inbox_reads if e["search"]]
    assert len(searched) == 2 and all("王芳" not in str(e) for e in searched)
    assert "traits.name" in inbox_reads[-1]["unmasked"]  # a supervisor saw names in plain


def test_the_sla_badge_and_filter(client, db, settings):
    from omnicx.core.scheduler import Registry, Runner
    from omnicx.runtime.scheduling import wire_jobs

    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=60)
    make_rule(db, "售后服务")
    make_agent(db, "售后服务")
    _people(db, 1)  # written long ago: overdue
    Runner(db, wire_jobs(settings, Registry())).run_until_idle()
    sign_in_as(client, db, "supervisor")
    page = client.get("/desk", params={"sla": "breached"}).text
    assert len(rows_of(page)) == 1 and 'class="badge sla-breached"' in page
    assert "breached" in page and "due " in page
    assert rows_of(client.get("/desk", params={"sla": "at_risk"}).text) == []


def test_more_pages_in_the_fragment_and_a_live_refresh_keeps_the_filters(client, db):
    make_rule(db, "售后服务")
    make_agent(db, "售后服务", capacity=0)
    people = Customers(db)
    for n in range(55):
        people.write("咨询", thread=f"p-{n}", sender=Sender(anonymous_id=f"p-{n}"), minutes=n)
    process(db)
    sign_in_as(client, db, "supervisor")
    first = client.get("/desk").text
    assert len(rows_of(first)) == 50 and 'id="inbox-more"' in first
    more = re.search(r'hx-get="(/desk/rows\?[^"]+cursor=[^"]+)"', first).group(1)
    second = client.get(more.replace("&amp;", "&"))
    assert second.status_code == 200
    assert len(rows_of(second.text)) == 5 and "inbox-more" not in second.text
    assert set(rows_of(first)).isdisjoint(rows_of(second.text))
    live = re.search(r'id="inbox-list" data-live-inbox hx-get="([^"]+)"', first).group(1)
    assert "status=open" in live and "view=all" in live
    refreshed = client.get(live.replace("&amp;", "&"))
    assert 'id="inbox-tabs"' in refreshed.text and len(rows_of(refreshed.text)) == 50


def test_the_page_costs_the_same_queries_for_2_and_for_20_rows(client, db):
    make_rule(db, "售后服务")
    make_agent(db, "售后服务", capacity=0)
    sign_in_as(client, db, "supervisor")

    def queries_for_page() -> int:
        engines = {db.engine, db.read_engine}
        count = 0

        def counted(*_):
            nonlocal count
            count += 1

        for engine in engines:
            event.listen(engine, "before_cursor_execute", counted)
        try:
            assert client.get("/desk").status_code == 200
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", counted)
        return count

    _people(db, 2)
    queries_for_page()  # the first read loads the role's policy (cached after)
    few = queries_for_page()
    people = Customers(db)
    for n in range(18):
        people.write("咨询", thread=f"q-{n}", sender=Sender(anonymous_id=f"q-{n}"), minutes=n)
    process(db)
    assert queries_for_page() == few


def test_refusals_and_bad_input(client, db):
    assert client.get("/desk", follow_redirects=False).status_code == 303  # to sign in
    assert client.get("/desk/rows").status_code == 401
    sign_in_as(client, db, "analyst")
    refused = client.get("/desk")
    assert refused.status_code == 403 and "may not read the service desk" in refused.text
    assert client.get("/desk/rows").status_code == 403
    client.post("/logout")
    sign_in_as(client, db, "supervisor", email="sup2@corp.cn")
    bad = client.get("/desk", params={"q": "冷"})
    assert bad.status_code == 400 and "two characters" in bad.text
    assert client.get("/desk/rows", params={"q": "冷"}).status_code == 400
    assert client.get("/desk", params={"view": "everything"}).status_code == 422
    assert client.get("/desk/rows", params={"cursor": "not-a-cursor"}).status_code == 400
    assert client.get("/desk", params={"q": "x" * 201}).status_code == 422
