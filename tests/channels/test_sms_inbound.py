"""Incoming texts from Twilio (SQLite and PostgreSQL): webhooks signed with Twilio's own
``RequestValidator`` over the channel's public URL, posted over HTTP to the app; forged
or unsigned ones refused, audited and kept off the log; retries no-ops; the sender's
number finds the member known by that phone."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from omnicx.core.eventlog.models import EventRow
from omnicx.governance.models import AuditEntry
from tests.channels.sms_helpers import (
    ACCOUNT_SID,
    CUSTOMER,
    PUBLIC_URL,
    Sms,
    create_sms,
    message_sid,
    post,
    signature,
    text_form,
)
from tests.factories import make_source, make_token, process

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@pytest.fixture
def sms(db) -> Sms:
    return create_sms(db)


def _admin(db) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(db, 'admin')}"}


def _events(db) -> list[EventRow]:
    with db.read() as session:
        rows = list(session.scalars(select(EventRow).order_by(EventRow.seq)))
        session.expunge_all()
        return rows


def _refusals(db) -> list[AuditEntry]:
    with db.read() as session:
        rows = list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == "channel.refused"))
        )
        session.expunge_all()
        return rows


def _thread(client, db, number: str = CUSTOMER) -> list[dict[str, Any]]:
    process(db)
    admin = _admin(db)
    found = client.get("/api/v1/conversations", params={"channel": "sms"}, headers=admin)
    conversations = [c for c in found.json()["items"] if c["thread"] == number]
    assert len(conversations) == 1, found.text
    messages = client.get(f"/api/v1/conversations/{conversations[0]['id']}/messages", headers=admin)
    return list(messages.json()["items"])


def test_a_text_lands_on_the_log_and_in_the_desk_and_twilio_gets_empty_twiml(client, db, sms):
    sid = message_sid()
    answer = post(client, sms, text_form("快递到哪了？订单 20261207001", sid=sid))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.text == EMPTY_TWIML
    [event] = _events(db)
    assert event.message_id == f"sms-{sid}" and event.name == "Message Received"
    payload = json.loads(event.payload)
    assert payload["context"]["channel"] == "sms"
    assert payload["context"]["traits"] == {"phone": CUSTOMER}
    # Anonymous ids are shown unmasked: the number is only in the (masked) phone trait.
    assert payload["anonymousId"].startswith("sms:") and CUSTOMER[3:] not in payload["anonymousId"]
    assert payload["properties"]["thread"] == CUSTOMER
    assert payload["properties"]["channel_id"] == sms.channel_id
    [message] = _thread(client, db)
    assert message["text"] == "快递到哪了？订单 20261207001" and message["direction"] == "in"


def test_twilio_retries_are_no_ops(client, db, sms):
    form = text_form("退款什么时候到账？")
    for _ in range(3):
        assert post(client, sms, form).status_code == 200
    assert len(_events(db)) == 1
    assert len(_thread(client, db)) == 1


def test_a_number_written_nationally_is_the_same_phone(client, db, sms):
    """Twilio sends E.164, but a gateway may send 13912345678: both are +8613912345678."""
    assert post(client, sms, text_form("第一条", sender="+86 139 1234 5678")).status_code == 200
    assert post(client, sms, text_form("第二条", sender="13912345678")).status_code == 200
    assert [m["text"] for m in _thread(client, db)] == ["第一条", "第二条"]


def test_media_links_are_kept_with_the_message(client, db, sms):
    media = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1"
    form = text_form("", NumMedia="1", MediaUrl0=media, MediaContentType0="image/jpeg")
    assert post(client, sms, form).status_code == 200
    [message] = _thread(client, db)
    [attachment] = message["attachments"]
    assert attachment["url"] == media and attachment["content_type"] == "image/jpeg"


def test_forged_unsigned_and_other_account_webhooks_are_refused_and_audited(client, db, sms):
    form = text_form("伪造的消息")
    forged = post(client, sms, form, signature=signature(PUBLIC_URL + sms.path, form, "x" * 32))
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "signature_invalid"
    unsigned = client.post(sms.path, data=form)
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["code"] == "signature_missing"
    # Signed over the address the request reached (not the public URL): refused.
    local = post(client, sms, form, signature=signature("http://testserver" + sms.path, form))
    assert local.status_code == 401
    # A body changed after signing.
    sig = signature(PUBLIC_URL + sms.path, form)
    changed = client.post(
        sms.path, data={**form, "Body": "改过的"}, headers={"X-Twilio-Signature": sig}
    )
    assert changed.status_code == 401
    other = text_form("另一个账号", AccountSid="AC" + "1" * 32)
    assert post(client, sms, other).json()["error"]["code"] == "signature_invalid"
    assert _events(db) == []
    details = [json.loads(r.detail) for r in _refusals(db)]
    assert all(d["via"] == "sms" for d in details)
    assert sorted(d["reason"] for d in details) == [
        "forged", "forged", "forged", "unsigned", "wrong_account",
    ]  # fmt: skip


def test_a_malformed_webhook_is_a_clear_400_and_an_unknown_channel_404(client, db, sms):
    form = text_form("没有编号")
    form["MessageSid"] = form["SmsMessageSid"] = "not-a-sid"
    bad = post(client, sms, form)
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "code": "webhook_malformed",
        "message": "the webhook is not a Twilio message",
        "field": "MessageSid",
    }
    unknown = client.post("/sms/twilio/sms_nothing", data=text_form("你好"))
    assert unknown.status_code == 404
    assert _events(db) == []


def test_a_member_known_by_phone_texts_and_lands_on_their_customer(client, db, sms):
    _, write_key = make_source(db, "crm")
    identify = {"userId": "M-20261207-0042", "traits": {"name": "王芳", "phone": "13912345678"}}
    assert client.post("/v1/identify", json=identify, auth=(write_key, "")).status_code == 200
    assert post(client, sms, text_form("我的会员积分怎么查？")).status_code == 200
    process(db)
    admin = _admin(db)
    member = client.get(
        "/api/v1/customers/lookup", params={"type": "user_id", "value": "M-20261207-0042"},
        headers=admin,
    ).json()  # fmt: skip
    [conversation] = client.get(
        "/api/v1/conversations", params={"channel": "sms"}, headers=admin
    ).json()["items"]
    assert conversation["customer_id"] == member["id"]


def test_the_log_failing_is_a_503_and_twilios_retry_lands(client, db, sms):
    class Unavailable:
        async def append(self, events: Any) -> None:
            raise OSError("the log is unavailable")

        async def close(self) -> None:
            return None

    form = text_form("在线等")
    working, client.app.state.event_log = client.app.state.event_log, Unavailable()
    try:
        failed = post(client, sms, form)
    finally:
        client.app.state.event_log = working
    assert failed.status_code == 503
    assert post(client, sms, form).status_code == 200
    assert len(_events(db)) == 1
    assert ACCOUNT_SID  # the form named the channel's own account


def test_an_oversized_webhook_is_refused_before_it_is_read(client, db, sms):
    form = text_form("长" * 30_000)  # 90 KB of UTF-8, percent-encoded far more
    answer = post(client, sms, form)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"
    assert _events(db) == []
