"""The desk's live feed (``desk.live``, on ``core.follow``): every kind of change to a
conversation leaves a row it follows; a move names who held the conversation before;
listeners hear only what their reach covers; polling stops with the last listener; a
late commit on PostgreSQL is not skipped. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from omnicx.core.scheduler import Registry, Runner
from omnicx.core.time import utcnow
from omnicx.desk import assignment, replies, status
from omnicx.desk.access import Reach, load_conversation
from omnicx.desk.history import record_change
from omnicx.desk.live import ConversationFeed
from omnicx.desk.models import Conversation
from omnicx.desk.teams import team_by_ref
from omnicx.governance.service import Principal
from omnicx.runtime.scheduling import wire_jobs
from tests.desk.factories import Customers, conversations, make_agent, make_rule
from tests.desk.sla.factories import ALWAYS, make_calendar, make_policy
from tests.factories import process

MANAGER = Principal(kind="token", id=0, name="test", role="supervisor")


def polled(db, feed: ConversationFeed) -> dict[int, frozenset]:
    with db.read() as session:
        return {c.conversation_id: c.holders for c in feed.poll(session)}


def begun(db) -> ConversationFeed:
    feed = ConversationFeed(db)
    with db.read() as session:
        feed.begin(session)
    return feed


def _one(db, team: str = "售后服务") -> tuple[int, int]:
    agent, _ = make_agent(db, team)
    make_rule(db, team)
    Customers(db).write("空调漏水", thread="f-1")
    process(db)
    [conversation] = conversations(db)
    return conversation.id, agent


def test_every_kind_of_change_is_followed(db, settings):
    conversation_id, agent = _one(db)
    feed = begun(db)
    assert polled(db, feed) == {}

    def command(do) -> None:
        with db.write() as session:
            loaded = load_conversation(session, MANAGER, conversation_id, for_update=True)
            do(session, loaded)

    steps = {
        "reply": lambda s, c: replies.post_message(
            s, c.row, author_user_id=agent, actor="t", kind="reply", text="马上安排"
        ),
        "note": lambda s, c: replies.post_message(
            s, c.row, author_user_id=agent, actor="t", kind="note", text="回访"
        ),
        "labels": lambda s, c: assignment.set_labels(s, c, ["漏水"]),
        "priority": lambda s, c: assignment.set_priority(s, c, "high"),
        "snooze": lambda s, c: status.snooze(s, "t", c.row, utcnow() + timedelta(hours=1)),
        "status": lambda s, c: status.set_status(s, "t", c.row, "resolved"),
        "unassign": lambda s, c: assignment.assign(s, c, assignee_id=None, unassign=True),
    }
    for name, do in steps.items():
        command(do)
        assert conversation_id in polled(db, feed), name
        assert polled(db, feed) == {}, name  # reported once
    Customers(db).write("还是漏水", thread="f-1", minutes=5)  # a customer's message
    process(db)
    assert conversation_id in polled(db, feed)


def test_an_sla_breach_is_followed(db, settings):
    calendar = make_calendar(db, hours=ALWAYS, region=None)
    make_policy(db, calendar, first_response_seconds=60)
    conversation_id, _ = _one(db)
    feed = begun(db)
    Runner(db, wire_jobs(settings, Registry())).run_until_idle()  # overdue: at risk, breached
    assert conversation_id in polled(db, feed)


def test_a_transfer_names_the_team_it_left(db):
    conversation_id, agent = _one(db)
    make_agent(db, "发票组")
    with db.read() as session:
        after_sales = team_by_ref(session, "售后服务").id
        invoices = team_by_ref(session, "发票组").id
    feed = begun(db)
    with db.write() as session:
        loaded = load_conversation(session, MANAGER, conversation_id, for_update=True)
        assignment.assign(session, loaded, assignee_id=None, team_id=invoices)
    holders = polled(db, feed)[conversation_id]
    assert (agent, after_sales) in holders  # before
    assert any(team == invoices for _, team in holders)  # now
    assert Reach(False, agent, (after_sales,)).sees(agent, after_sales)
    assert not Reach(False, agent, (after_sales,)).sees(None, invoices)


def test_listeners_hear_what_their_reach_covers_and_polling_stops_with_the_last(db):
    conversation_id, agent = _one(db)
    other, _ = make_agent(db, "发票组")
    with db.read() as session:
        after_sales = team_by_ref(session, "售后服务").id
        invoices = team_by_ref(session, "发票组").id

    async def scenario() -> None:
        feed = ConversationFeed(db, poll_seconds=0.05)
        mine = await feed.subscribe(Reach(False, agent, (after_sales,)))
        theirs = await feed.subscribe(Reach(False, other, (invoices,)))
        assert feed.polling
        await asyncio.to_thread(Customers(db).write, "在吗", thread="f-1", minutes=9)
        await asyncio.to_thread(process, db)
        assert await asyncio.wait_for(mine.queue.get(), 10) == conversation_id
        await asyncio.sleep(0.3)
        assert theirs.queue.empty()
        feed.unsubscribe(mine)
        feed.unsubscribe(theirs)
        await asyncio.sleep(0.3)
        assert not feed.polling
        await feed.aclose()

    asyncio.run(scenario())


def test_a_late_commit_on_postgresql_is_not_skipped(db):
    if db.sqlite:
        pytest.skip("SQLite commits one writer at a time: ids become visible in order")
    conversation_id, _ = _one(db)
    feed = begun(db)
    with db.write() as late:
        row = late.get(Conversation, conversation_id)
        record_change(late, row, "t", "labels", {"to": ["慢"]})
        late.flush()  # its id is taken now, its commit comes after the next one's
        with db.write() as early:
            record_change(early, early.get(Conversation, conversation_id), "t", "priority")
        assert conversation_id in polled(db, feed)  # the early one
    assert conversation_id in polled(db, feed)  # the late one, below the highest id seen
    assert polled(db, feed) == {}
