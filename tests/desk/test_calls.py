"""Screen pops of phone calls (``desk.calls``, SQLite and PostgreSQL): a call ringing at
or answered by an agent (by email, or by a mapped extension) is one pop for that agent's
account, read by the live feed and handed only to that agent's listeners; an unknown or
disabled agent, a retried event and an old event pop nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlalchemy import select

from omnicx.core.eventlog.models import EventRow
from omnicx.core.eventlog.table import read_events
from omnicx.core.time import utcnow
from omnicx.desk.access import Reach
from omnicx.desk.calls import CallPop, pop_call
from omnicx.desk.live import CallPopped, ConversationFeed
from omnicx.governance.service import SYSTEM
from omnicx.governance.users import get_user, update_user
from tests.channels.phone_helpers import call, call_id, create_phone, post
from tests.desk.factories import make_agent
from tests.factories import process


def _pops(db) -> list[CallPop]:
    with db.read() as session:
        rows = list(session.scalars(select(CallPop).order_by(CallPop.id)))
        session.expunge_all()
        return rows


def _email(db, user_id: int) -> str:
    with db.read() as session:
        return get_user(session, user_id).email


def test_a_call_pops_once_for_the_named_agent_only(client, db):
    agent, _ = make_agent(db)
    other, _ = make_agent(db, role="supervisor")  # sees every conversation, not this call
    phone = create_phone(db, extensions={"8001": _email(db, agent)})
    cid = call_id()

    def pbx() -> None:
        now = time.time()
        assert post(client, phone, call("ringing", cid, agent="8001"), at=now).status_code == 200
        # The PBX retries (signed anew): the log keeps one event, the desk one pop.
        again = post(client, phone, call("ringing", cid, agent="8001"), at=now - 5)
        assert again.status_code == 200
        unknown = call("answered", cid, agent="nobody@omnishop.cn")
        assert post(client, phone, unknown).status_code == 200
        process(db)

    async def scenario() -> tuple[object, bool]:
        feed = ConversationFeed(db, poll_seconds=0.05)
        mine = await feed.subscribe(Reach(False, agent, ()))
        theirs = await feed.subscribe(Reach(True, other, ()))
        try:
            await asyncio.to_thread(pbx)
            heard = await asyncio.wait_for(mine.queue.get(), 10)
            await asyncio.sleep(0.3)
            return heard, theirs.queue.empty()
        finally:
            feed.unsubscribe(mine)
            feed.unsubscribe(theirs)
            await feed.aclose()

    heard, theirs_empty = asyncio.run(scenario())
    [pop] = _pops(db)
    assert (pop.user_id, pop.call_id, pop.conversation_id) == (agent, cid, None)
    assert pop.customer_id is not None
    assert heard == CallPopped(agent, cid, pop.customer_id, None)
    assert theirs_empty


def test_the_feed_reads_new_pops(client, db):
    agent, _ = make_agent(db)
    phone = create_phone(db)
    feed = ConversationFeed(db)
    with db.read() as session:
        feed.begin(session)
    cid = call_id()
    post(client, phone, call("answered", cid, agent=_email(db, agent).upper()))
    process(db)
    with db.read() as session:
        found = [item for item in feed.poll(session) if isinstance(item, CallPopped)]
        assert feed.poll(session) == []  # handed on once
    assert [(p.user_id, p.call_id) for p in found] == [(agent, cid)]


def test_a_disabled_agent_and_an_old_event_pop_nothing(client, db):
    agent, _ = make_agent(db)
    email = _email(db, agent)
    phone = create_phone(db)
    post(client, phone, call("answered", call_id(), agent=email))
    with db.write() as session:
        seq = session.scalars(select(EventRow.seq)).one()
        [log_event] = read_events(session, [seq])
        # Read by the desk group more than 2 minutes later (a replay, a backlog): no pop.
        assert pop_call(session, log_event, now=utcnow() + timedelta(minutes=3)) is None
    with db.write() as session:
        update_user(session, SYSTEM, agent, disabled=True)
    process(db)
    assert _pops(db) == []
