"""Opt-out keywords (SQLite and PostgreSQL): a customer who texts STOP, UNSUBSCRIBE, 退订
or TD withdraws SMS marketing consent and is told so in their language; the outbox's
consent gate then refuses a marketing text to them while a service reply still goes;
START gives the consent back."""

from __future__ import annotations

from typing import Any

import pytest

from omnicx.core.outbox import OutboxMessage, enqueue
from omnicx.runtime.outbound import make_dispatcher
from tests.channels.sms_helpers import CUSTOMER, Recorder, Sms, create_sms, post, text_form
from tests.channels.sms_helpers import twilio_api as local_twilio_api
from tests.factories import make_source, make_token, process

STOPPED_ZH = "您已退订我们的营销短信，将不再收到此类短信。回复 START 可重新订阅。"
STOPPED_EN = (
    "You will no longer receive marketing text messages from us. Reply START to receive them again."
)


@pytest.fixture
def twilio_api() -> Any:
    with local_twilio_api() as recorder:
        yield recorder


@pytest.fixture
def sms(db, twilio_api) -> Sms:
    return create_sms(db, api_base_url=twilio_api.url)


def _member(client, db, phone: str = "13912345678") -> int:
    """A member whose CRM says they opted in to marketing texts."""
    _, write_key = make_source(db, "crm")
    identify = {
        "userId": "M-20261207-0042",
        "traits": {"name": "王芳", "phone": phone, "consent": {"marketing": {"sms": True}}},
    }
    assert client.post("/v1/identify", json=identify, auth=(write_key, "")).status_code == 200
    process(db)
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    found = client.get(
        "/api/v1/customers/lookup", params={"type": "phone", "value": phone}, headers=admin
    )
    return int(found.json()["id"])


def _send(db, settings, sms: Sms, customer_id: int, words: str, purpose: str) -> OutboxMessage:
    """Queue a text to the customer (a campaign's, or a service notice) and dispatch it."""
    with db.write() as session:
        queued = enqueue(
            session,
            "channel.sms",
            {"channel_id": sms.channel_id, "thread": CUSTOMER, "text": words},
            customer_id=customer_id,
            purpose=purpose,
            channel="sms",
        )
        session.flush()
        queued_id = queued.id
    make_dispatcher(db, settings).dispatch_once()
    with db.read() as session:
        row = session.get(OutboxMessage, queued_id)
        session.expunge(row)
        return row


@pytest.mark.parametrize("keyword", ["STOP", " stop ", "Unsubscribe", "退订", "td"])
def test_a_keyword_withdraws_sms_marketing_and_is_confirmed(
    client, db, settings, sms, twilio_api: Recorder, keyword
):
    customer = _member(client, db)
    sent = _send(db, settings, sms, customer, "双十二会员专享 8 折", "marketing")
    assert sent.status == "sent" and [s["Body"] for s in twilio_api.sent] == ["双十二会员专享 8 折"]
    answer = post(client, sms, text_form(keyword))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/xml")
    # A mainland number is answered in Chinese.
    assert f"<Response><Message>{STOPPED_ZH}</Message></Response>" in answer.text
    process(db)
    refused = _send(db, settings, sms, customer, "年货节满减", "marketing")
    assert refused.status == "refused"
    assert refused.last_error.startswith("marketing consent on sms withdrawn (event")
    service = _send(db, settings, sms, customer, "您的订单已发货，顺丰 SF1234567890", "service")
    assert service.status == "sent"
    assert [s["Body"] for s in twilio_api.sent][1:] == ["您的订单已发货，顺丰 SF1234567890"]


def test_start_gives_the_consent_back(client, db, settings, sms, twilio_api):
    customer = _member(client, db)
    assert post(client, sms, text_form("TD")).status_code == 200
    process(db)
    assert _send(db, settings, sms, customer, "新品上市", "marketing").status == "refused"
    started = post(client, sms, text_form("START"))
    assert "您已重新订阅我们的营销短信" in started.text
    process(db)
    assert _send(db, settings, sms, customer, "新品上市", "marketing").status == "sent"
    # A keyword is still a message: the agent sees it in the thread.
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    [conversation] = client.get(
        "/api/v1/conversations", params={"channel": "sms"}, headers=admin
    ).json()["items"]
    items = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=admin
    ).json()["items"]
    assert [m["text"] for m in items if m["direction"] == "in"] == ["TD", "START"]


def test_an_english_stop_from_abroad_is_confirmed_in_english(client, db, sms):
    answer = post(client, sms, text_form("STOP", sender="+14155552671"))
    assert f"<Response><Message>{STOPPED_EN}</Message></Response>" in answer.text


def test_a_sentence_with_the_word_is_no_keyword(client, db, settings, sms):
    customer = _member(client, db)
    answer = post(client, sms, text_form("请不要 stop 我的订单"))
    assert "<Message>" not in answer.text
    process(db)
    assert _send(db, settings, sms, customer, "会员日", "marketing").status == "sent"


def test_a_second_stop_counts_after_an_agent_re_granted(client, db, settings, sms):
    """A keyword is the person deciding, not a stamp of their preferences: a STOP after an
    agent recorded a new opt-in withdraws it again."""
    customer = _member(client, db)
    assert post(client, sms, text_form("STOP")).status_code == 200
    process(db)
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    granted = client.post(
        f"/api/v1/customers/{customer}/consent",
        json={"purpose": "marketing", "channel": "sms", "granted": True, "note": "电话里同意"},
        headers=admin,
    )
    assert granted.status_code in (200, 201), granted.text
    assert _send(db, settings, sms, customer, "会员日", "marketing").status == "sent"
    assert post(client, sms, text_form("STOP")).status_code == 200
    process(db)
    assert _send(db, settings, sms, customer, "会员日", "marketing").status == "refused"
