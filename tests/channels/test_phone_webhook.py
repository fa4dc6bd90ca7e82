"""The CTI webhook (SQLite and PostgreSQL): call events posted over HTTP as a PBX posts
them, signed with HMAC-SHA256 (or a bearer token); forged, unsigned, stale and replayed
ones refused, audited and kept off the log; retries no-ops; bad bodies clear 400/422."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from omnicx.core.eventlog.models import EventRow
from omnicx.governance.models import AuditEntry
from tests.channels.phone_helpers import (
    CALLER,
    Phone,
    call,
    call_id,
    create_phone,
    post,
    sign,
)

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture
def phone(db) -> Phone:
    return create_phone(db)


def _events(db) -> list[EventRow]:
    with db.read() as session:
        rows = list(session.scalars(select(EventRow).order_by(EventRow.seq)))
        session.expunge_all()
        return rows


def _refusals(db) -> list[dict[str, Any]]:
    with db.read() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "channel.refused"))
        return [json.loads(r.detail) for r in rows]


def test_a_call_ringing_answered_and_hung_up_goes_on_the_log(client, db, phone):
    cid = call_id()
    for event in ("ringing", "answered"):
        answer = post(client, phone, call(event, cid, agent="zhang.wei@omnishop.cn"))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"message_id": f"call-{cid}-{event}"}
    assert post(client, phone, call("hangup", cid, duration=192, cause="normal")).status_code == 200
    ringing, answered, hangup = _events(db)
    assert [ringing.name, answered.name, hangup.name] == [
        "Call Ringing", "Call Answered", "Message Received",
    ]  # fmt: skip
    payload = json.loads(hangup.payload)
    assert payload["context"] == {"channel": "phone", "traits": {"phone": CALLER}}
    properties = payload["properties"]
    assert properties["thread"] == CALLER and properties["channel_id"] == phone.channel_id
    assert properties["outcome"] == "answered" and properties["duration_seconds"] == 192
    [attachment] = properties["attachments"]
    assert attachment["type"] == "call" and attachment["cause"] == "normal"
    assert json.loads(answered.payload)["properties"]["agent_email"] == "zhang.wei@omnishop.cn"


def test_a_hangup_without_answer_is_a_missed_call(client, db, phone):
    cid = call_id()
    assert post(client, phone, call("ringing", cid)).status_code == 200
    assert post(client, phone, call("hangup", cid, cause="no_answer")).status_code == 200
    hangup = json.loads(_events(db)[-1].payload)["properties"]
    assert hangup["outcome"] == "missed" and hangup["duration_seconds"] == 0


def test_retries_are_no_ops_per_call_and_event(client, db, phone):
    cid = call_id()
    now = time.time()
    for attempt in range(3):  # signed anew each time, as a PBX retries
        answer = post(client, phone, call("hangup", cid, duration=30), at=now - attempt)
        assert answer.status_code == 200, answer.text
    assert len(_events(db)) == 1


def test_a_number_written_nationally_is_the_same_thread(client, db, phone):
    post(client, phone, call("hangup", call_id(), number="139 1234 5678"))
    assert json.loads(_events(db)[0].payload)["properties"]["thread"] == CALLER


def test_forged_unsigned_stale_and_replayed_webhooks_are_refused_and_audited(client, db, phone):
    body = json.dumps(call("ringing", call_id())).encode()
    now = int(time.time())
    forged = {"X-OmniCX-Timestamp": str(now), "X-OmniCX-Signature": sign("x" * 64, now, body)}
    answer = client.post(phone.path, content=body, headers=forged)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "signature_invalid"
    unsigned = client.post(phone.path, content=body)
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["code"] == "signature_missing"
    # The body changed after signing.
    signed = {"X-OmniCX-Timestamp": str(now), "X-OmniCX-Signature": sign(phone.secret, now, body)}
    changed = client.post(phone.path, content=body.replace(b"inbound", b"outbound"), headers=signed)
    assert changed.status_code == 401
    stale = post(client, phone, body, at=now - 600)
    assert stale.status_code == 403 and stale.json()["error"]["code"] == "signature_stale"
    assert _events(db) == []
    # A captured request played again: refused, the first one kept.
    assert client.post(phone.path, content=body, headers=signed).status_code == 200
    replayed = client.post(phone.path, content=body, headers=signed)
    assert replayed.status_code == 403
    assert replayed.json()["error"]["code"] == "signature_replayed"
    assert len(_events(db)) == 1
    reasons = sorted(d["reason"] for d in _refusals(db))
    assert reasons == ["forged", "forged", "replayed", "stale", "unsigned"]
    assert all(d["via"] == "phone" for d in _refusals(db))


def test_a_token_channel_takes_its_bearer_token_only(client, db):
    phone = create_phone(db, "呼叫中心", auth="token")
    assert post(client, phone, call("ringing", call_id())).status_code == 200
    body = json.dumps(call("ringing", call_id())).encode()
    wrong = client.post(phone.path, content=body, headers={"Authorization": "Bearer " + "0" * 64})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "signature_invalid"
    # An HMAC signature is not what this channel takes.
    now = int(time.time())
    signature = sign(phone.secret, now, body)
    hmac_signed = {"X-OmniCX-Timestamp": str(now), "X-OmniCX-Signature": signature}
    assert client.post(phone.path, content=body, headers=hmac_signed).status_code == 401
    assert len(_events(db)) == 1


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        ({"call_id": "c-1", "from": CALLER, "direction": "inbound"}, 422, "event"),
        (call("dialling", "c-1"), 422, "event"),
        (call("ringing", "c 1"), 422, "call_id"),
        ({**call("ringing", "c-1"), "direction": "sideways"}, 422, "direction"),
        ({**call("ringing", "c-1"), "from": ""}, 422, "from"),
        (call("hangup", "c-1", duration="3分12秒"), 422, "duration"),
        (call("recording", "c-1"), 422, "recording_url"),
        (call("recording", "c-1", recording_url="ftp://pbx/1.wav"), 422, "recording_url"),
        (call("transcript", "c-1"), 422, "transcript"),
        (call("answered", "c-1", agent="张 伟"), 422, "agent"),
        (call("transcript", "c-1", transcript="录音\u0000转写"), 422, "transcript"),
    ],
)
def test_a_bad_body_is_a_clear_error_naming_the_field(client, db, phone, payload, status, field):
    answer = post(client, phone, payload)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["field"] == field and error["message"]
    assert _events(db) == []


def test_an_unknown_channel_is_404_and_an_oversized_body_413(client, db, phone):
    assert client.post("/phone/cti/ph_nothing", json=call("ringing", "c-1")).status_code == 404
    huge = call("transcript", "c-1", transcript="长" * 100_000)
    answer = post(client, phone, huge)
    assert answer.status_code == 413
    assert _events(db) == []


def test_the_log_failing_is_a_503_and_the_pbx_retry_lands(client, db, phone):
    class Unavailable:
        async def append_recorded(self, events: Any, record: Any) -> None:
            raise OSError("the log is unavailable")

        async def close(self) -> None:
            return None

    payload = call("hangup", call_id(), duration=12)
    working, client.app.state.event_log = client.app.state.event_log, Unavailable()
    try:
        failed = post(client, phone, payload, at=time.time() - 1)
    finally:
        client.app.state.event_log = working
    assert failed.status_code == 503
    assert post(client, phone, payload).status_code == 200
    assert len(_events(db)) == 1
