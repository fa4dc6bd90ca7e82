"""Inbound message events become conversations of the right customer."""

from __future__ import annotations

from omnicx.desk.messages import Sender
from tests.desk.factories import Customers, conversations, messages
from tests.factories import append_calls, call, process


def test_stitched_identifiers_land_in_one_conversation(db):
    people = Customers(db)
    people.write("你好，我的空调不制冷了", thread="web-1", sender=Sender(anonymous_id="a-1"))
    process(db)
    # The same person, signed in now: another identifier on the same thread.
    people.write("订单号是 SO-1001", thread="web-1", sender=Sender(user_id="u-1"), minutes=1)
    process(db)
    append_calls(db, people.source_id, [call("identify", 2, anonymousId="a-1", userId="u-1")])
    process(db)
    people.write("请尽快回复", thread="web-1", sender=Sender(user_id="u-1"), minutes=3)
    process(db)
    active = [c for c in conversations(db) if c.status != "resolved"]
    assert len(active) == 1
    assert len({c.customer_id for c in conversations(db)}) == 1
    assert [m.text for m in messages(db, active[0].id)] == [
        "你好，我的空调不制冷了",
        "订单号是 SO-1001",
        "请尽快回复",
    ]


def test_one_batch_two_identifiers_one_conversation(db):
    people = Customers(db)
    people.write(
        "在吗",
        channel="wechat",
        thread="o-1",
        sender=Sender(external_ids=(("wechat_openid", "wx-app", "o-1"),)),
    )
    people.write(
        "我想退货",
        channel="wechat",
        thread="o-1",
        minutes=1,
        sender=Sender(external_ids=(("wechat_openid", "wx-app", "o-1"),), phone="13800138000"),
    )
    process(db)
    [conversation] = conversations(db)
    assert conversation.channel == "wechat" and conversation.status == "open"
    assert len(messages(db, conversation.id)) == 2


def test_redelivery_and_replay_add_nothing(db):
    people = Customers(db)
    people.write("发票什么时候开", message_id="wx-42")
    people.write("发票什么时候开", message_id="wx-42")  # the channel delivered it twice
    process(db)
    assert len(messages(db)) == 1


def test_reopen_window(db, monkeypatch):
    from omnicx.desk.status import set_status

    people = Customers(db)
    people.write("快递还没到", thread="t-9")
    process(db)
    [first] = conversations(db)
    from tests.desk.factories import at

    with db.write() as session:
        from omnicx.desk.models import Conversation

        row = session.get(Conversation, first.id)
        set_status(session, "user:test", row, "resolved", at(10))
    people.write("还是没到", thread="t-9", minutes=60)  # within 24 h: reopened
    process(db)
    assert [(c.id, c.status) for c in conversations(db)] == [(first.id, "open")]
    with db.write() as session:
        row = session.get(Conversation, first.id)
        set_status(session, "user:test", row, "resolved", at(70))
    people.write("又出问题了", thread="t-9", minutes=70 + 25 * 60)  # past the window
    process(db)
    assert [c.status for c in conversations(db)] == ["resolved", "open"]


def test_replay_rederives_threading_and_keeps_what_agents_did(db):
    from omnicx.core.processing.replay import rewind
    from omnicx.desk.models import Conversation
    from omnicx.desk.status import set_status
    from omnicx.runtime.processors import all_groups

    people = Customers(db)
    people.write("退款到账了吗", thread="t-r")
    people.write("第二条", thread="t-r", minutes=1)
    process(db)
    [conversation] = conversations(db)
    with db.write() as session:
        set_status(session, "user:li", session.get(Conversation, conversation.id), "pending")
    with db.write() as session:
        rewind(session, all_groups())
    process(db)
    assert [(c.id, c.status) for c in conversations(db)] == [(conversation.id, "pending")]
    assert len(messages(db)) == 2


def test_merge_fact_moves_conversations_to_the_survivor(db):
    people = Customers(db)
    people.write(
        "短信咨询", channel="sms", thread="+8613900139000", sender=Sender(phone="13900139000")
    )
    people.write(
        "网页咨询", channel="webchat", thread="w-7", sender=Sender(user_id="u-7"), minutes=1
    )
    process(db)
    assert len({c.customer_id for c in conversations(db)}) == 2
    append_calls(
        db, people.source_id, [call("identify", 2, userId="u-7", traits={"phone": "13900139000"})]
    )
    process(db)
    owners = {c.customer_id for c in conversations(db)}
    assert len(owners) == 1
    assert {c.channel for c in conversations(db)} == {"sms", "webchat"}


def test_unmerge_fact_sends_conversations_back_to_their_customer(client, db):
    from tests.factories import make_token

    people = Customers(db)
    people.write("笔记本上问的", thread="w-a", sender=Sender(anonymous_id="laptop-a"))
    people.write("平板上问的", thread="w-b", sender=Sender(anonymous_id="tablet-b"), minutes=1)
    append_calls(
        db,
        people.source_id,
        [
            call("identify", 2, anonymousId="laptop-a", traits={"email": "li.lei@example.cn"}),
        ],
    )
    process(db)
    append_calls(
        db,
        people.source_id,
        [
            call("identify", 3, anonymousId="tablet-b", traits={"email": "li.lei@example.cn"}),
        ],
    )
    process(db)
    by_thread = {c.thread: c.customer_id for c in conversations(db)}
    assert by_thread["w-a"] == by_thread["w-b"]
    survivor = by_thread["w-a"]
    auth = {"Authorization": f"Bearer {make_token(db)}"}
    merge = next(
        m
        for m in client.get(f"/api/v1/customers/{survivor}", headers=auth).json()["merges"]
        if m["undone_at"] is None
    )
    undone = client.post(
        f"/api/v1/customers/{survivor}/unmerge",
        json={"merge_id": merge["id"], "reason": "两个人共用一个邮箱"},
        headers=auth,
    )
    assert undone.status_code == 200, undone.text
    process(db)
    by_thread = {c.thread: c.customer_id for c in conversations(db)}
    assert by_thread["w-a"] == survivor
    assert by_thread["w-b"] == undone.json()["new_customer_ids"][0]
