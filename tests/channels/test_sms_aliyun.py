"""Notifications through Alibaba Cloud SMS (SQLite and PostgreSQL): ``SendSms`` signed
with RPC signature v1 and posted to a local stand-in (a real HTTP server) that recomputes
the signature with Alibaba Cloud's own SDK (``aliyunsdkcore``) and refuses a mismatch as
Alibaba Cloud does; its refusals end the message refused, its flow control is retried."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from omnicx.channels.models import Channel
from omnicx.core.outbox import OutboxMessage, enqueue
from omnicx.core.serialization import dumps
from omnicx.core.time import utcnow
from omnicx.runtime.outbound import make_dispatcher
from tests.channels.sms_helpers import (
    ACCESS_KEY_ID,
    CUSTOMER,
    SIGN_NAME,
    TEMPLATE_CODE,
    aliyun_api,
    create_aliyun,
)


@pytest.fixture
def aliyun() -> Any:
    with aliyun_api() as recorder:
        yield recorder


def _notify(db, settings, channel_id: int, payload: dict[str, Any]) -> OutboxMessage:
    with db.write() as session:
        queued = enqueue(session, "channel.sms", {"channel_id": channel_id, **payload})
        session.flush()
        queued_id = queued.id
    make_dispatcher(db, settings).dispatch_once()
    with db.read() as session:
        row = session.get(OutboxMessage, queued_id)
        session.expunge(row)
        return row


def test_a_notification_is_signed_as_alibaba_cloud_checks_it(db, settings, aliyun):
    channel_id = create_aliyun(db, aliyun.url)
    row = _notify(
        db, settings, channel_id,
        {"thread": CUSTOMER, "text": "unused", "template_param": {"code": "482913"}},
    )  # fmt: skip
    assert row.status == "sent", row.last_error
    [sent] = aliyun.sent
    assert sent["Action"] == "SendSms" and sent["Version"] == "2017-05-25"
    assert sent["PhoneNumbers"] == "13912345678" and sent["AccessKeyId"] == ACCESS_KEY_ID
    assert sent["SignName"] == SIGN_NAME and sent["TemplateCode"] == TEMPLATE_CODE
    assert json.loads(sent["TemplateParam"]) == {"code": "482913"}
    assert sent["OutId"] == f"outbox-{row.id}"
    # Without template parameters, the text fills the template's ${content}.
    _notify(db, settings, channel_id, {"thread": CUSTOMER, "text": "您的包裹已到驿站"})
    assert json.loads(aliyun.sent[1]["TemplateParam"]) == {"content": "您的包裹已到驿站"}


def test_a_wrong_secret_is_refused_by_the_signature_check(db, settings, aliyun):
    channel_id = create_aliyun(db, aliyun.url)
    with db.write() as session:
        session.get(Channel, channel_id).secrets = dumps({"access_key_secret": "x" * 30})
    row = _notify(db, settings, channel_id, {"thread": CUSTOMER, "text": "您好"})
    assert row.status == "refused" and "credentials" in (row.last_error or "")
    assert aliyun.sent == []


def test_refusals_end_refused_and_flow_control_is_retried(db, settings, aliyun):
    channel_id = create_aliyun(db, aliyun.url)
    aliyun.errors = [(200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "illegal"})]
    refused = _notify(db, settings, channel_id, {"thread": CUSTOMER, "text": "您好"})
    assert refused.status == "refused"
    assert refused.last_error == "The number is not a valid phone number for text messages."
    aliyun.errors = [(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "flow control"})]
    retried = _notify(db, settings, channel_id, {"thread": CUSTOMER, "text": "您好"})
    assert retried.status == "pending" and "BUSINESS_LIMIT_CONTROL" in retried.last_error
    with db.write() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    make_dispatcher(db, settings).dispatch_once()
    assert [s["PhoneNumbers"] for s in aliyun.sent] == ["13912345678"]


def test_an_aliyun_channel_takes_no_webhooks(client, db, aliyun):
    create_aliyun(db, aliyun.url)
    with db.read() as session:
        token = session.query(Channel.public_token).scalar()
    assert client.post(f"/sms/twilio/{token}", data={"Body": "你好"}).status_code == 404
