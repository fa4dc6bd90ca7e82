"""The parts of web chat that need no socket: the canonical event, signatures, limits,
and the outbox deliverer through the real dispatcher (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from omnicx.channels.messages import MESSAGE_RECEIVED, message_received
from omnicx.channels.service import create_channel
from omnicx.channels.webchat.limits import TokenBuckets
from omnicx.channels.webchat.signatures import issue_visitor, user_vouched, visitor_of
from omnicx.channels.webchat.transcript import thread_history
from omnicx.core.errors import InvalidInput
from omnicx.core.outbox import OutboxMessage, enqueue
from omnicx.runtime.outbound import make_dispatcher


def test_the_message_event_carries_identifiers_where_identity_looks():
    event = message_received(
        7,
        channel="webchat",
        channel_id=3,
        thread="v:wv_abc",
        text="在吗？",
        message_id="wv_abc-1",
        anonymous_id="wv_abc",
        traits={"name": "李雷", "phone": "", "email": None, "age": "30"},
    )
    assert (event.source_id, event.type, event.name) == (7, "track", MESSAGE_RECEIVED)
    assert event.message_id == "wv_abc-1" and event.payload["anonymousId"] == "wv_abc"
    assert "userId" not in event.payload
    # The channel names where the customer was on their timeline.
    assert event.payload["context"] == {"channel": "webchat", "traits": {"name": "李雷"}}
    assert event.payload["properties"]["thread"] == "v:wv_abc"


def test_a_message_without_any_identifier_is_refused():
    with pytest.raises(InvalidInput) as refused:
        message_received(
            1, channel="sms", channel_id=1, thread="t", text="x", message_id="m", user_id=""
        )
    assert refused.value.field == "userId"


def test_user_hash_is_hex_hmac_sha256_of_the_user_id():
    secret, user = "s3cret", "crm-10086"
    signed = hmac.new(secret.encode(), user.encode(), hashlib.sha256).hexdigest()
    assert user_vouched(secret, user, signed) and user_vouched(secret, user, signed.upper())
    assert not user_vouched(secret, "crm-10087", signed)
    assert not user_vouched(None, user, signed)
    assert not user_vouched(secret, user, "")


def test_visitor_tokens_are_bound_to_the_server_key_and_the_channel():
    visitor_id, token = issue_visitor("key", 1)
    assert visitor_of("key", 1, token) == visitor_id
    assert visitor_of("key", 2, token) is None
    assert visitor_of("other", 1, token) is None
    assert visitor_of("key", 1, visitor_id + ".0") is None
    assert visitor_of("key", 1, None) is None


def test_a_token_bucket_allows_the_burst_then_the_rate():
    buckets = TokenBuckets(burst=3, per_second=1, max_keys=2)
    assert [buckets.take("a", now=0.0) for _ in range(4)] == [True, True, True, False]
    assert buckets.take("a", now=1.0) and not buckets.take("a", now=1.0)
    buckets.take("b", now=1.0)
    buckets.take("c", now=1.0)  # past max_keys: "a", the least recently used, is dropped
    assert buckets.take("a", now=1.0)


def test_the_dispatcher_delivers_a_webchat_reply_into_the_thread_once(db, settings):
    with db.write() as session:
        channel, _ = create_channel(session, "webchat", "客服", origins=["https://shop.example.cn"])
        channel_id = channel.id
        payload = {
            "channel_id": channel_id,
            "thread": "v:wv_visitor",
            "text": "您的包裹已发出。",
            "message_id": "reply-1",
            "author_name": "客服小王",
        }
        enqueue(session, "channel.webchat", payload, purpose="service", channel="webchat")
        # At-least-once: the same reply delivered twice is recorded once.
        enqueue(session, "channel.webchat", payload, purpose="service", channel="webchat")
        enqueue(session, "channel.webchat", {**payload, "channel_id": 999}, purpose="service")
    make_dispatcher(db, settings).dispatch_once()
    with db.read() as session:
        lines = thread_history(session, channel_id, "v:wv_visitor")
        outcome = sorted((m.status, m.last_error or "") for m in session.query(OutboxMessage))
    assert [(line.direction, line.text, line.author_name) for line in lines] == [
        ("out", "您的包裹已发出。", "客服小王")
    ]
    assert outcome[1:] == [("sent", ""), ("sent", "")]
    assert outcome[0][0] == "pending" and "no channel 999" in outcome[0][1]
