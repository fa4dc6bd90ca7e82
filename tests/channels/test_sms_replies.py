"""Agents' replies by SMS, on SQLite and PostgreSQL: through the desk, the outbox and
Twilio's REST API on a local stand-in (a real HTTP server that checks basic auth and the
form like Twilio); errors that cannot be cured end refused, outages are retried; Twilio's
delivery status callbacks (signed) move the thread's delivery state on."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from omnicx.channels.models import Channel
from omnicx.channels.sms.models import SmsMessage
from omnicx.core.outbox import OutboxMessage
from omnicx.core.serialization import dumps
from omnicx.core.time import utcnow
from omnicx.runtime.outbound import make_dispatcher
from tests.channels.sms_helpers import (
    ACCOUNT_SID,
    CUSTOMER,
    FROM,
    PUBLIC_URL,
    Recorder,
    Sms,
    create_sms,
    post,
    signature,
    text_form,
)
from tests.channels.sms_helpers import twilio_api as local_twilio_api
from tests.factories import make_token, process
from tests.web.console_scene import person, sign_in


@pytest.fixture
def twilio_api() -> Any:
    with local_twilio_api() as recorder:
        yield recorder


@pytest.fixture
def sms(db, twilio_api) -> Sms:
    return create_sms(db, api_base_url=twilio_api.url)


class Thread:
    """A texter's conversation, seen by an admin through the desk's API."""

    def __init__(self, client: Any, db: Any, sms: Sms):
        self.client, self.db, self.sms = client, db, sms
        self.headers = {"Authorization": f"Bearer {make_token(db, 'admin')}"}

    def customer_writes(self, words: str) -> None:
        assert post(self.client, self.sms, text_form(words)).status_code == 200
        process(self.db)

    @property
    def conversation_id(self) -> int:
        found = self.client.get(
            "/api/v1/conversations", params={"channel": "sms"}, headers=self.headers
        ).json()["items"]
        return int(next(c["id"] for c in found if c["thread"] == CUSTOMER))

    def reply(self, words: str) -> None:
        sent = self.client.post(
            f"/api/v1/conversations/{self.conversation_id}/messages",
            json={"kind": "reply", "text": words},
            headers=self.headers,
        )
        assert sent.status_code == 201, sent.text

    def replies(self, language: str = "en") -> list[dict[str, Any]]:
        items = self.client.get(
            f"/api/v1/conversations/{self.conversation_id}/messages",
            headers={**self.headers, "Accept-Language": language},
        ).json()["items"]
        return [m for m in items if m["direction"] == "out"]

    def status(self, sid: str, status: str, **extra: str) -> Any:
        form = {
            "MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
            "AccountSid": ACCOUNT_SID, "From": FROM, "To": CUSTOMER, "ApiVersion": "2010-04-01",
            **extra,
        }  # fmt: skip
        return post(self.client, self.sms, form, path=self.sms.status_path)


@pytest.fixture
def thread(client, db, sms) -> Thread:
    return Thread(client, db, sms)


def _dispatch(db, settings) -> int:
    return make_dispatcher(db, settings).dispatch_once()


def test_a_reply_goes_out_in_twilios_shape_and_its_status_reaches_the_thread(
    thread, db, settings, twilio_api: Recorder
):
    thread.customer_writes("我的快递三天没动了")
    thread.reply("您好，已为您催促快递公司，今天内回电。")
    assert [m["delivery"] for m in thread.replies()] == ["queued"]
    assert _dispatch(db, settings) == 1
    [sent] = twilio_api.sent
    assert sent["To"] == CUSTOMER and sent["From"] == FROM
    assert sent["Body"] == "您好，已为您催促快递公司，今天内回电。"
    assert sent["StatusCallback"] == f"{PUBLIC_URL}{thread.sms.status_path}"
    assert [m["delivery"] for m in thread.replies()] == ["sent"]  # Twilio took it
    # Twilio's callbacks, in any order: a late "sent" does not undo "delivered".
    assert thread.status(sent["sid"], "delivered").status_code == 204
    assert thread.status(sent["sid"], "sent").status_code == 204
    [reply] = thread.replies()
    assert reply["delivery"] == "delivered" and reply["delivery_reason"] is None


def test_an_undelivered_text_reads_failed_with_the_reason_in_the_agents_language(
    client, thread, db, settings, twilio_api
):
    thread.customer_writes("能改地址吗？")
    thread.reply("可以，请回复新地址。")
    _dispatch(db, settings)
    sid = twilio_api.sent[0]["sid"]
    assert thread.status(sid, "undelivered", ErrorCode="30003").status_code == 204
    [reply] = thread.replies()
    assert reply["delivery"] == "failed"
    assert reply["delivery_reason"] == (
        "The carrier could not deliver the text message to this number."
    )
    [chinese] = thread.replies("zh-CN")
    assert chinese["delivery_reason"] == "运营商无法将短信送达该号码。"
    with db.read() as session:
        row = session.execute(select(SmsMessage.status, SmsMessage.error_code)).one()
    assert tuple(row) == ("undelivered", "30003")
    # The console's thread shows it too.
    sign_in(client, person(db, None, "admin"))
    shown = client.get(
        f"/desk/conversations/{thread.conversation_id}/thread",
        headers={"HX-Request": "true", "Accept-Language": "zh-CN"},
    )
    assert shown.status_code == 200 and "运营商无法将短信送达该号码。" in shown.text


def test_a_forged_status_callback_is_refused_and_changes_nothing(thread, db, settings, twilio_api):
    thread.customer_writes("你好")
    thread.reply("您好！")
    _dispatch(db, settings)
    sid = twilio_api.sent[0]["sid"]
    form = {"MessageSid": sid, "MessageStatus": "failed", "AccountSid": ACCOUNT_SID}
    forged = thread.client.post(
        thread.sms.status_path,
        data=form,
        headers={"X-Twilio-Signature": signature(PUBLIC_URL + thread.sms.path, form)},
    )  # signed for the other URL
    assert forged.status_code == 401
    assert [m["delivery"] for m in thread.replies()] == ["sent"]
    bad = thread.status(sid, "exploded")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "MessageStatus"


def test_a_status_before_the_send_is_recorded_is_kept(thread, db, settings, twilio_api):
    """Twilio may call back before the deliverer has written down the send."""
    assert thread.status("SM" + "a" * 32, "queued").status_code == 204
    with db.read() as session:
        row = session.execute(select(SmsMessage.outbox_id, SmsMessage.status)).one()
    assert tuple(row) == (None, "queued")


def test_a_number_twilio_cannot_text_is_refused_not_retried(thread, db, settings, twilio_api):
    thread.customer_writes("你好")
    twilio_api.errors = [(400, {"code": 21614, "message": "not a mobile number", "status": 400})]
    thread.reply("您好！")
    _dispatch(db, settings)
    [reply] = thread.replies()
    assert reply["delivery"] == "refused"
    assert reply["delivery_reason"] == "The number cannot receive text messages."
    [chinese] = thread.replies("zh-CN")
    assert chinese["delivery_reason"] == "该号码无法接收短信。"
    with db.write() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    assert _dispatch(db, settings) == 0 and twilio_api.sent == []


def test_an_outage_is_retried_and_the_retry_sends_once(thread, db, settings, twilio_api):
    thread.customer_writes("你好")
    twilio_api.errors = [(503, {"code": 20503, "message": "unavailable", "status": 503})]
    thread.reply("您好，请稍等。")
    _dispatch(db, settings)
    [reply] = thread.replies()
    assert reply["delivery"] == "queued" and twilio_api.sent == []
    with db.read() as session:
        status, attempts, error = session.execute(
            select(OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.last_error)
        ).one()
    assert status == "pending" and attempts == 1 and "503" in (error or "")
    with db.write() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    assert _dispatch(db, settings) == 1
    assert [s["Body"] for s in twilio_api.sent] == ["您好，请稍等。"]
    # A dispatcher that dies after Twilio took it retries the message: not sent again.
    with db.write() as session:
        session.execute(update(OutboxMessage).values(status="pending", next_attempt_at=utcnow()))
    assert _dispatch(db, settings) == 1
    assert len(twilio_api.sent) == 1


def test_wrong_credentials_are_refused_with_a_reason_for_the_admin(
    thread, db, settings, twilio_api
):
    thread.customer_writes("你好")
    with db.write() as session:  # the auth token was rotated in Twilio's console
        row = session.get(Channel, thread.sms.channel_id)
        row.secrets = dumps({"auth_token": "f" * 32})
    thread.reply("您好！")
    _dispatch(db, settings)
    assert twilio_api.refused_auth == 1 and twilio_api.sent == []
    [reply] = thread.replies()
    assert reply["delivery"] == "refused" and "credentials" in reply["delivery_reason"]
