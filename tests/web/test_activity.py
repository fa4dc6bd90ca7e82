"""Timeline events read as sentences in each language (web/activity.py), never as their
stored names; an order the role may not see names no amount."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from omnicx.customers.schemas import TimelineItem
from omnicx.web.activity import sentence


def event(kind: str, event_name: str | None, timeline_channel: str = "server", **properties: Any):
    return TimelineItem(
        seq=1,
        occurred_at=datetime(2026, 5, 1, tzinfo=UTC),
        type=kind,
        name=event_name,
        channel=timeline_channel,
        source_id=1,
        properties=properties,
    )


@pytest.mark.parametrize(
    ("item", "chinese", "english"),
    [
        (
            event("track", "Order Completed", total=1299, currency="CNY"),
            "下单 ¥1,299.00",
            "Ordered CN¥1,299.00",
        ),
        (event("track", "Order Completed", total=25.5, currency="USD"), "下单 US$25.50", None),
        (
            event("track", "Message Received", "server", channel="wechat", text="空调不制冷"),
            "发来微信消息",
            "Sent a wechat message",
        ),
        (
            event("track", "Message Received", "server", channel="webchat"),
            "发来网页聊天消息",
            "Sent a web chat message",
        ),
        (event("track", "WeChat Message Received", "wechat"), "发来微信消息", None),
        (event("track", "Message Sent", "server", channel="webchat"), "客服回复", "Agent replied"),
        (
            event("track", "Order Shipped", order_id="SO-1", carrier="顺丰速运"),
            "订单已发货（顺丰速运）",
            "Order shipped by 顺丰速运",
        ),
        (
            event("track", "Call Completed", direction="inbound", duration_seconds=125),
            "来电（3 分钟）",
            "Called us (3 min)",
        ),
        (
            event(
                "track",
                "Message Received",
                "phone",
                channel="phone",
                call_event="hangup",
                direction="inbound",
                outcome="answered",
                duration_seconds=192,
            ),
            "来电，时长 3:12",
            "Incoming call, 3:12",
        ),
        (
            event(
                "track",
                "Message Received",
                "phone",
                channel="phone",
                call_event="hangup",
                direction="inbound",
                outcome="missed",
                duration_seconds=0,
            ),
            "未接来电",
            "Missed call",
        ),
        (
            event(
                "track",
                "Message Received",
                "phone",
                channel="phone",
                call_event="hangup",
                direction="outbound",
                outcome="unanswered",
            ),
            "去电未接通",
            "We called, no answer",
        ),
        (
            event("track", "Message Received", "phone", channel="phone", call_event="transcript"),
            "通话转写",
            "Call transcript",
        ),
        (event("track", "Call Ringing", "phone", channel="phone"), "来电振铃", "The phone rang"),
        (event("track", "Call Answered", "phone", channel="phone"), "电话已接通", "Call answered"),
        (
            event("track", "Product Viewed", name="智能空调 1.5 匹"),
            "浏览商品「智能空调 1.5 匹」",
            "Viewed 智能空调 1.5 匹",
        ),
        (
            event("track", "After-sales Inquiry", topic="安装预约"),
            "售后咨询：安装预约",
            None,
        ),
        (event("page", "双十一特惠"), "浏览页面「双十一特惠」", "Viewed the page 双十一特惠"),
        (event("identify", None), "更新了资料", "Updated their profile"),
        (event("track", "Loyalty Points Earned"), "Loyalty Points Earned", None),
    ],
)
def test_each_event_reads_as_a_sentence(item, chinese, english):
    assert sentence(item, "zh-CN") == chinese
    if english is not None:
        assert sentence(item, "en") == english


def test_an_order_beyond_the_roles_limit_names_no_amount():
    withheld = event("track", "Order Completed")  # the access layer sent no properties
    withheld.withheld = True
    assert sentence(withheld, "zh-CN") == "下单"
    assert sentence(withheld, "en") == "Placed an order"


def test_long_free_text_is_cut():
    long = event("track", "Email Received", subject="发票" * 100)
    assert len(sentence(long, "zh-CN")) < 100 and sentence(long, "zh-CN").endswith("…")
