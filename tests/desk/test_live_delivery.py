"""The live feed hears a reply's delivery change (``desk.live_delivery``): the outbox
dispatcher sending, refusing or giving up on a reply, and an SMS provider's report,
announce the reply's conversation once; a settled reply leaves the watch; replies already
open when the feed starts are watched too. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from omnicx.channels.sms.outbound import KIND as SMS_KIND
from omnicx.channels.sms.status import record_status
from omnicx.channels.webchat.outbound import KIND as WEBCHAT_KIND
from omnicx.core.outbox import DeliveryFailed, DeliveryRefused, Dispatcher, OutboxMessage
from omnicx.desk import replies
from omnicx.desk.access import Reach, load_conversation
from omnicx.desk.live import ConversationFeed
from omnicx.desk.live_delivery import DeliveryWatch
from omnicx.desk.messages import Sender, message_call
from omnicx.desk.teams import team_by_ref
from omnicx.governance.service import Principal
from tests.desk.factories import conversations, make_agent, make_rule
from tests.factories import BASE_TIME, append_calls, make_source, process

MANAGER = Principal(kind="token", id=0, name="test", role="supervisor")
CHANNEL_ID = 7
_threads = itertools.count(1)


def _begun(db) -> ConversationFeed:
    feed = ConversationFeed(db)
    with db.read() as session:
        feed.begin(session)
    return feed


def _polled(db, feed: ConversationFeed) -> set[int]:
    with db.read() as session:
        return {c.conversation_id for c in feed.poll(session)}


def _customer_writes(db, channel: str, text: str) -> int:
    """A customer's message through a channel instance (its replies are queued in the
    outbox); the conversation's id."""
    thread = f"d-{next(_threads)}"
    call = message_call(
        direction="in",
        channel=channel,
        thread=thread,
        text=text,
        message_id=f"m-{thread}",
        sender=Sender(anonymous_id=f"anon-{thread}"),
        timestamp=BASE_TIME,
    )
    call["properties"]["channel_id"] = CHANNEL_ID
    source_id, _ = make_source(db)
    append_calls(db, source_id, [call])
    process(db)
    return next(c.id for c in conversations(db) if c.thread == thread)


def _reply(db, conversation_id: int, agent: int, text: str) -> int:
    """An agent's reply; its outbox message's id."""
    with db.write() as session:
        loaded = load_conversation(session, MANAGER, conversation_id, for_update=True)
        message = replies.post_message(
            session, loaded.row, author_user_id=agent, actor="t", kind="reply", text=text
        )
        assert message.outbox_id is not None
        return message.outbox_id


def _dispatch(db, kind: str, outcome: Any) -> None:
    """The real dispatcher, with a deliverer that ends as ``outcome`` says."""

    def deliver(message: OutboxMessage, payload: dict[str, Any]) -> None:
        if outcome is not None:
            raise outcome

    Dispatcher(db, max_attempts=1, deliverers={kind: deliver}).dispatch_once()


def test_a_delivered_and_a_refused_reply_announce_their_conversation(db, settings):
    agent, _ = make_agent(db, "售后服务")
    make_rule(db, "售后服务")
    first = _customer_writes(db, "webchat", "空调遥控器失灵了")
    second = _customer_writes(db, "webchat", "发票抬头写错了")
    feed = _begun(db)
    _reply(db, first, agent, "请先更换电池试试")
    _reply(db, second, agent, "我们马上为您重开发票")
    assert _polled(db, feed) == {first, second}  # the replies themselves
    assert _polled(db, feed) == set()  # nothing changed: nothing told
    assert feed.watched_replies == 2

    _dispatch(db, WEBCHAT_KIND, None)  # both sent
    assert _polled(db, feed) == {first, second}
    assert _polled(db, feed) == set()  # reported once
    assert feed.watched_replies == 0  # delivered: settled, no longer read

    _reply(db, first, agent, "请问现在好了吗？")
    assert _polled(db, feed) == {first}
    _dispatch(db, WEBCHAT_KIND, DeliveryRefused("the 48-hour window has closed"))
    assert _polled(db, feed) == {first}
    _reply(db, second, agent, "发票已发送到您的邮箱")
    assert _polled(db, feed) == {second}
    _dispatch(db, WEBCHAT_KIND, DeliveryFailed("connection refused"))  # last attempt: dead
    assert _polled(db, feed) == {second}
    assert feed.watched_replies == 0


def test_a_failed_attempt_that_will_be_retried_changes_nothing_shown(db, settings):
    agent, _ = make_agent(db, "售后服务")
    make_rule(db, "售后服务")
    conversation = _customer_writes(db, "webchat", "订单什么时候发货？")
    feed = _begun(db)
    _reply(db, conversation, agent, "今天下午发货")
    assert _polled(db, feed) == {conversation}

    def deliver(message: OutboxMessage, payload: dict[str, Any]) -> None:
        raise DeliveryFailed("timeout")

    Dispatcher(db, max_attempts=5, deliverers={WEBCHAT_KIND: deliver}).dispatch_once()
    assert _polled(db, feed) == set()  # still queued: the thread shows no change
    assert feed.watched_replies == 1


def test_an_sms_report_after_the_send_announces_the_conversation(db, settings):
    agent, _ = make_agent(db, "售后服务")
    make_rule(db, "售后服务")
    conversation = _customer_writes(db, "sms", "退货地址是哪里？")
    outbox_id = _reply(db, conversation, agent, "请寄到上海市浦东新区")

    def deliver(message: OutboxMessage, payload: dict[str, Any]) -> None:
        with db.write() as session:  # what the SMS deliverer records when the provider took it
            record_status(session, CHANNEL_ID, f"SM{message.id}", "queued", outbox_id=message.id)

    # The feed starts after the reply was queued: it finds the open reply itself.
    feed = _begun(db)
    assert feed.watched_replies == 1
    Dispatcher(db, max_attempts=1, deliverers={SMS_KIND: deliver}).dispatch_once()
    assert _polled(db, feed) == {conversation}  # handed to the provider: queued → sent
    assert feed.watched_replies == 1  # not settled until the provider reports
    with db.write() as session:
        record_status(session, CHANNEL_ID, f"SM{outbox_id}", "sent")
    assert _polled(db, feed) == set()  # the carrier has it: still "sent"
    with db.write() as session:
        record_status(session, CHANNEL_ID, f"SM{outbox_id}", "delivered")
    assert _polled(db, feed) == {conversation}
    assert feed.watched_replies == 0


def test_a_delivery_reaches_the_listeners_who_may_see_it_and_no_other(db, settings):
    agent, _ = make_agent(db, "售后服务")
    other, _ = make_agent(db, "发票组")
    make_rule(db, "售后服务")
    conversation = _customer_writes(db, "webchat", "屏幕有坏点")
    _reply(db, conversation, agent, "请拍照发给我们")
    with db.read() as session:
        after_sales = team_by_ref(session, "售后服务").id
        invoices = team_by_ref(session, "发票组").id

    async def scenario() -> None:
        feed = ConversationFeed(db, poll_seconds=0.05)
        mine = await feed.subscribe(Reach(False, agent, (after_sales,)))
        theirs = await feed.subscribe(Reach(False, other, (invoices,)))
        await asyncio.sleep(0.2)
        assert mine.queue.empty()  # the reply was queued before: nothing new yet
        await asyncio.to_thread(_dispatch, db, WEBCHAT_KIND, None)
        assert await asyncio.wait_for(mine.queue.get(), 10) == conversation
        await asyncio.sleep(0.3)
        assert mine.queue.empty() and theirs.queue.empty()
        feed.unsubscribe(mine)
        feed.unsubscribe(theirs)
        await feed.aclose()

    asyncio.run(scenario())


def test_the_watch_is_bounded_and_forgets_what_stays_open_too_long(db, settings):
    agent, _ = make_agent(db, "售后服务")
    make_rule(db, "售后服务")
    conversation = _customer_writes(db, "webchat", "快递一直没到")
    older = _reply(db, conversation, agent, "我们帮您查一下")
    newer = _reply(db, conversation, agent, "快递明天送达")
    watch = DeliveryWatch(limit=1)
    watch.take([(older, conversation, "webchat"), (newer, conversation, "webchat")])
    assert len(watch) == 1  # the oldest went first
    with db.read() as session:
        assert watch.changed(session) == set()
    assert len(watch) == 1  # still queued: still watched
    forgetful = DeliveryWatch(seconds=0)
    forgetful.take([(newer, conversation, "webchat")])
    with db.read() as session:
        assert forgetful.changed(session) == set()
    assert len(forgetful) == 0
    _dispatch(db, WEBCHAT_KIND, None)
    with db.read() as session:
        assert watch.changed(session) == {conversation}  # the newer one, kept
