"""Replies go on the log and the customer's timeline; notes do not; snoozes wake through
the durable scheduler; reporting events measure wall-clock seconds."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, text

from omnicx.core.scheduler import Registry, Runner, job_status
from omnicx.core.settings import get_settings
from omnicx.core.time import utcnow
from omnicx.customers.service import timeline_page
from omnicx.desk.models import Conversation, ReportEvent
from omnicx.desk.replies import post_message
from omnicx.desk.status import handoff, snooze, snooze_key
from omnicx.governance.service import SYSTEM
from omnicx.runtime.scheduling import wire_jobs
from tests.desk.factories import Customers, conversations, messages
from tests.factories import process


def _reply(db, conversation_id: int, kind: str, words: str) -> None:
    with db.write() as session:
        conversation = session.get(Conversation, conversation_id)
        post_message(
            session, conversation, author_user_id=None, actor="user:li", kind=kind, text=words
        )


def test_reply_is_a_message_sent_event_on_the_customer_timeline_and_a_note_is_not(db):
    people = Customers(db)
    people.write("我的订单什么时候发货？", thread="t-1")
    process(db)
    [conversation] = conversations(db)
    _reply(db, conversation.id, "reply", "您好，今天下午发货。")
    _reply(db, conversation.id, "note", "内部备注：客户很着急")
    process(db)
    with db.read() as session:
        page = timeline_page(session, SYSTEM, conversation.customer_id, 10, None)
        names = [item.name for item in page.items]
        logged = session.execute(text("SELECT count(*) FROM events")).scalar()
    assert names.count("Message Sent") == 1 and names.count("Message Received") == 1
    assert logged == 2  # the note never reached the log
    stored = messages(db, conversation.id)
    assert [(m.direction, m.delivery) for m in stored] == [
        ("in", "received"),
        ("out", "queued"),
        ("note", "internal"),
    ]
    # The reply came back from the log: known already, not stored twice.
    assert len(messages(db)) == 3
    with db.read() as session:
        kinds = sorted(session.scalars(select(ReportEvent.kind)))
        first = session.scalar(select(ReportEvent).where(ReportEvent.kind == "first_response"))
        assert first.wall_seconds is not None and first.business_seconds is None
    assert kinds == ["first_response", "reply"]


def test_message_text_is_encrypted_at_rest(db):
    people = Customers(db)
    people.write("我的手机号是13800138000", thread="t-2")
    process(db)
    with db.read() as session:
        stored = session.execute(text("SELECT text FROM desk_messages")).scalar()
    assert "13800138000" not in stored and stored.startswith("v1.")


def test_snooze_wakes_through_the_scheduler(db):
    people = Customers(db)
    people.write("下周再联系我", thread="t-3")
    process(db)
    [conversation] = conversations(db)
    with db.write() as session:
        snooze(
            session,
            "user:li",
            session.get(Conversation, conversation.id),
            utcnow() + timedelta(seconds=1),
        )
    assert conversations(db)[0].status == "snoozed"
    assert job_status_of(db, conversation.id) == "pending"
    runner = Runner(db, wire_jobs(get_settings(), Registry()))
    assert runner.run_due() == 0  # not due yet
    time.sleep(1.1)
    assert runner.run_due() == 1
    assert conversations(db)[0].status == "open"
    assert job_status_of(db, conversation.id) == "done"


def test_a_customer_message_wakes_a_snooze_early_and_cancels_the_job(db):
    people = Customers(db)
    people.write("先这样", thread="t-4")
    process(db)
    [conversation] = conversations(db)
    with db.write() as session:
        snooze(
            session,
            "user:li",
            session.get(Conversation, conversation.id),
            utcnow() + timedelta(hours=4),
        )
    people.write("我又想起一件事", thread="t-4", minutes=5)
    process(db)
    assert conversations(db)[0].status == "open"
    assert job_status_of(db, conversation.id) == "cancelled"


def test_bot_inbox_hands_off_to_people(db, monkeypatch):
    monkeypatch.setattr(get_settings(), "desk_bot_channels", ["wechat"])
    people = Customers(db)
    people.write("转人工", channel="wechat", thread="o-9")
    process(db)
    [conversation] = conversations(db)
    assert conversation.status == "bot" and conversation.team_id is None
    with db.write() as session:
        handoff(session, "system:bot", session.get(Conversation, conversation.id), "客户要求人工")
    assert conversations(db)[0].status == "open"
    with db.read() as session:
        assert session.scalar(select(ReportEvent.kind)) == "handoff"


def job_status_of(db, conversation_id: int) -> str | None:
    with db.read() as session:
        return job_status(session, snooze_key(conversation_id))


def test_a_bot_conversation_is_resolved_or_handed_off_never_just_opened(db, monkeypatch):
    import pytest

    from omnicx.core.errors import Conflict
    from omnicx.desk.status import set_status

    monkeypatch.setattr(get_settings(), "desk_bot_channels", ["webchat"])
    people = Customers(db)
    people.write("营业时间是几点？", thread="b-1")
    process(db)
    [conversation] = conversations(db)
    with pytest.raises(Conflict), db.write() as session:
        set_status(session, "system:bot", session.get(Conversation, conversation.id), "open")
    with db.write() as session:
        set_status(session, "system:bot", session.get(Conversation, conversation.id), "resolved")
    assert conversations(db)[0].status == "resolved"
