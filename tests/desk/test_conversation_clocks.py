"""A conversation's SLA clocks follow it: first response from the customer's message to
the first reply, next response per unanswered message, resolution paused while pending,
met when resolved, restarted on a reopen; breaches fire from the scheduler as facts;
reporting events carry business seconds. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from omnicx.core.scheduler import Registry, Runner
from omnicx.core.time import utcnow
from omnicx.desk.models import Conversation, ReportEvent
from omnicx.desk.replies import post_message
from omnicx.desk.sla.models import SlaClock
from omnicx.desk.sla.service import clock_states
from omnicx.desk.status import set_status
from omnicx.runtime.scheduling import wire_jobs
from tests.desk.factories import Customers, conversations, make_agent, make_rule
from tests.desk.sla.factories import ALWAYS, OFFICE, make_calendar, make_policy, sla_facts
from tests.factories import BASE_TIME, process


def now() -> float:
    """Customers.write's minutes for the present moment (it counts from BASE_TIME)."""
    return (utcnow() - BASE_TIME).total_seconds() / 60


def clocks(db, conversation_id):
    with db.read() as session:
        rows = session.scalars(
            select(SlaClock)
            .where(SlaClock.target_kind == "conversation", SlaClock.target_id == conversation_id)
            .order_by(SlaClock.id)
        ).all()
        return [(c.metric, c.state, c.paused_at is not None) for c in rows]


def act(db, conversation_id, do):
    with db.write() as session:
        conversation = session.get(Conversation, conversation_id)
        do(session, conversation)


def reply(agent):
    return lambda session, c: post_message(
        session, c, author_user_id=agent, actor="user:test", kind="reply", text="您好，马上处理。"
    )


def status(value):
    return lambda session, c: set_status(session, "user:test", c, value)


def test_the_clocks_follow_the_conversation(db):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(
        db,
        calendar,
        first_response_seconds=3600,
        next_response_seconds=3600,
        resolution_seconds=86400,
    )
    agent, _ = make_agent(db, "售后服务")
    make_rule(db, "售后服务")
    people = Customers(db)
    people.write("空调不制冷了", thread="t-clock", minutes=now())
    process(db)
    [conversation] = conversations(db)
    assert clocks(db, conversation.id) == [
        ("resolution", "running", False),
        ("first_response", "running", False),
    ]
    act(db, conversation.id, reply(agent))
    assert ("first_response", "met", False) in clocks(db, conversation.id)
    people.write("师傅什么时候来？", thread="t-clock", minutes=now())
    process(db)
    assert ("next_response", "running", False) in clocks(db, conversation.id)
    act(db, conversation.id, reply(agent))
    assert ("next_response", "met", False) in clocks(db, conversation.id)
    act(db, conversation.id, status("pending"))
    assert ("resolution", "running", True) in clocks(db, conversation.id)
    act(db, conversation.id, status("open"))
    assert ("resolution", "running", False) in clocks(db, conversation.id)
    act(db, conversation.id, status("resolved"))
    assert ("resolution", "met", False) in clocks(db, conversation.id)
    act(db, conversation.id, status("open"))  # reopened: a new resolution run
    assert [m for m, s, _ in clocks(db, conversation.id) if s == "running"] == ["resolution"]
    with db.read() as session:
        states = clock_states(session, "conversation", [conversation.id])[conversation.id]
    assert states["resolution"].state == "running"


def test_an_unanswered_customer_breaches_from_the_scheduler_once(db, settings):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=60)
    make_agent(db, "售后服务")
    make_rule(db, "售后服务")
    # The message was sent long ago (BASE_TIME): its first-response clock is overdue.
    Customers(db).write("在吗？", thread="t-breach", minutes=0)
    process(db)
    [conversation] = conversations(db)
    runner = Runner(db, wire_jobs(settings, Registry()))
    runner.run_until_idle()
    runner.run_until_idle()  # a second pass (another worker) fires nothing more
    names = [name for name, payload in sla_facts(db) if payload["target_id"] == conversation.id]
    assert names == ["sla.at_risk", "sla.breached"]
    assert ("first_response", "breached", False) in clocks(db, conversation.id)


def test_reporting_events_count_business_seconds_on_the_policys_calendar(db):
    calendar = make_calendar(db, hours=OFFICE, region="CN")
    make_policy(db, calendar, first_response_seconds=3600)
    agent, _ = make_agent(db, "售后服务")
    make_rule(db, "售后服务")
    Customers(db).write("发票什么时候开？", thread="t-report", minutes=0)
    process(db)
    [conversation] = conversations(db)
    act(db, conversation.id, reply(agent))
    with db.read() as session:
        [(wall, business)] = session.execute(
            select(ReportEvent.wall_seconds, ReportEvent.business_seconds).where(
                ReportEvent.kind == "first_response"
            )
        ).all()
    # From 2026-01-01 (a holiday in China) to now: far fewer working seconds than wall ones.
    assert wall is not None and business is not None
    assert 0 < business < wall / 2
