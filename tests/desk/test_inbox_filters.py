"""GET /api/v1/conversations with ``q`` (the customer's identifiers and name, or message
text) and ``sla`` (clocks at risk or breached, from the scheduler's real firing).
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from omnicx.core.scheduler import Registry, Runner
from omnicx.core.time import utcnow
from omnicx.desk.messages import Sender
from omnicx.governance.audit import AuditFilter, detail_of, search
from omnicx.runtime.scheduling import wire_jobs
from tests.desk.factories import Customers, conversations, make_agent, make_rule
from tests.desk.sla.factories import ALWAYS, make_calendar, make_policy
from tests.factories import BASE_TIME, append_calls, call, make_token, process


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ids(client, token: str, **params) -> list[int]:
    answer = client.get("/api/v1/conversations", params=params, headers=_auth(token))
    assert answer.status_code == 200, answer.text
    return [c["id"] for c in answer.json()["items"]]


def test_q_finds_the_customer_by_phone_email_name_or_what_they_wrote(client, db):
    people = Customers(db)
    traits = {"name": "张伟华", "phone": "13800138000", "email": "zhang.wh@example.com"}
    append_calls(db, people.source_id, [call("identify", userId="c-9", traits=traits)])
    people.write("冰箱不制冷", thread="c-9", sender=Sender(user_id="c-9"), minutes=1)
    people.write("我想换货", thread="x-1", sender=Sender(anonymous_id="x-1"), minutes=2)
    process(db)
    by_thread = {c.thread: c.id for c in conversations(db)}
    admin = make_token(db, "admin")
    for q in ("138 0013 8000", "+86 13800138000", "ZHANG.WH@example.com", "伟华", "不制冷"):
        assert ids(client, admin, q=q) == [by_thread["c-9"]], q
    assert ids(client, admin, q="换货") == [by_thread["x-1"]]
    assert ids(client, admin, q="13900139000") == []  # a phone nobody holds, no 400
    assert ids(client, admin, q="伟华", status="resolved") == []  # with the other filters


def test_a_search_is_audited_without_its_query_and_a_plain_list_is_not(client, db):
    Customers(db).write("发票抬头写错了", thread="a-1", sender=Sender(anonymous_id="a-1"))
    process(db)
    admin = make_token(db, "admin")
    ids(client, admin)
    ids(client, admin, q="发票")
    with db.read() as session:
        entries = [detail_of(e) for e in search(session, AuditFilter(action="customers.list"))]
    assert len(entries) == 1
    assert entries[0]["via"] == "api.conversations" and entries[0]["rows"] == 1
    assert entries[0]["search"] is True and "发票" not in str(entries[0])


def test_sla_keeps_conversations_whose_clock_is_at_risk_or_breached(client, db, settings):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=3 * 3600, at_risk_fraction=0.5)
    make_agent(db, "售后服务")
    make_rule(db, "售后服务")
    people = Customers(db)
    minutes_ago = lambda m: (utcnow() - timedelta(minutes=m) - BASE_TIME).total_seconds() / 60  # noqa: E731
    # Waiting 4 hours (breached), 2 hours (past half its 3 hours: at risk), just now.
    for thread, waited in (("late", 240), ("risky", 120), ("fresh", 0)):
        people.write(
            "在吗？", thread=thread, sender=Sender(anonymous_id=thread), minutes=minutes_ago(waited)
        )
    process(db)
    Runner(db, wire_jobs(settings, Registry())).run_until_idle()
    by_thread = {c.thread: c.id for c in conversations(db)}
    admin = make_token(db, "admin")
    assert ids(client, admin, sla="breached") == [by_thread["late"]]
    assert ids(client, admin, sla="at_risk") == [by_thread["risky"]]
    assert len(ids(client, admin)) == 3
    refused = client.get("/api/v1/conversations", params={"sla": "met"}, headers=_auth(admin))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "sla"


def test_q_and_sla_are_documented_in_openapi(client):
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/conversations"]["get"]["parameters"]}
    assert "phone" in params["q"]["description"]
    assert "'maxLength': 200" in str(params["q"]["schema"])
    assert "'at_risk'" in str(params["sla"]["schema"]) and "clock" in params["sla"]["description"]
