"""A CTI webhook's JSON → the events on the log.

The contract (docs/channels.md, Phone (CTI))::

    {"event": "ringing" | "answered" | "hangup" | "recording" | "transcript",
     "call_id": "…", "from": "+8613912345678", "to": "4008001234",
     "direction": "inbound" | "outbound", "agent": "wang@shop.cn" | "8001",
     "cause": "normal_clearing", "duration": 192, "answered": true,
     "recording_url": "https://…", "transcript": "…"}

``ringing`` and ``answered`` are ``Call Ringing`` / ``Call Answered`` on the customer's
timeline (the desk pops the caller on the agent's screen from them). ``hangup`` is the
call's ``Message Received`` in the phone thread of the customer's number (E.164: identity
finds the member known by that phone), its ``call`` attachment saying how it went
(``answered``, ``missed``, ``unanswered``) and how long; ``recording`` and ``transcript``
are later messages of the same thread. The log's message id is ``call-<call id>-<event>``:
a PBX's retry is a no-op.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from omnicx.channels.messages import MESSAGE_RECEIVED, channel_event
from omnicx.channels.service import ChannelView
from omnicx.channels.sms.inbound import sender_of
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.i18n import Message, msg
from omnicx.governance.blind_index import blind_index

CHANNEL = "phone"
EVENTS = ("ringing", "answered", "hangup", "recording", "transcript")
DIRECTIONS = ("inbound", "outbound")
CALL_ID = re.compile(r"^[A-Za-z0-9._:@+-]{1,128}$")
EXTENSION = re.compile(r"^[0-9A-Za-z*#_-]{1,32}$")
MAX_TEXT = 20_000
RINGING, ANSWERED = "Call Ringing", "Call Answered"


class WebhookUnreadable(Exception):
    """The body is not a CTI event: ``field`` names what is wrong (None: not JSON)."""

    def __init__(self, field: str | None, problem: Message):
        super().__init__(str(problem))
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One webhook, checked."""

    event: str
    call_id: str
    direction: str
    customer: str  # the other party's number: E.164 when it is one
    is_phone: bool
    agent_email: str | None
    agent_extension: str | None
    cause: str | None
    duration: int | None
    answered: bool
    recording_url: str | None
    transcript: str | None

    @property
    def message_id(self) -> str:
        return f"call-{self.call_id}-{self.event}"


def _text(body: Mapping[str, Any], field: str, limit: int, required: bool = False) -> str | None:
    value = body.get(field)
    if value is None or value == "":
        if required:
            raise WebhookUnreadable(field, msg("{field} is missing", field=field))
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise WebhookUnreadable(field, msg("{field} is not a string", field=field))
    if "\x00" in value:  # PostgreSQL text cannot hold it (check_text's reason)
        raise WebhookUnreadable(field, msg("{field} must not contain NUL characters", field=field))
    value = value.strip()
    if len(value) > limit:
        raise WebhookUnreadable(
            field, msg("{field} is longer than {limit} characters", field=field, limit=limit)
        )
    return value or None


def parse(raw: bytes) -> dict[str, Any]:
    """The JSON object of a webhook body (``WebhookUnreadable`` with no field if not)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise WebhookUnreadable(None, msg("the body is not JSON")) from exc
    if not isinstance(body, dict):
        raise WebhookUnreadable(None, msg("the body is not a JSON object"))
    return body


def _agent(channel: ChannelView, value: str | None) -> tuple[str | None, str | None]:
    """The agent as (email, extension): an extension is mapped to a user's email by the
    channel's ``extensions`` setting."""
    if value is None:
        return None, None
    if "@" in value:
        return value.lower(), None
    if not EXTENSION.match(value):
        raise WebhookUnreadable("agent", msg("agent is neither an email address nor an extension"))
    mapped = channel.settings.get("extensions") or {}
    email = mapped.get(value) if isinstance(mapped, dict) else None
    return (str(email).lower() if email else None), value


def call_event(channel: ChannelView, body: Mapping[str, Any]) -> CallEvent:
    """The checked event (``WebhookUnreadable`` naming the first field at fault)."""
    event = _text(body, "event", 16, required=True)
    if event not in EVENTS:
        raise WebhookUnreadable("event", msg("event is one of: {names}", names=", ".join(EVENTS)))
    call_id = _text(body, "call_id", 128, required=True) or ""
    if not CALL_ID.match(call_id):
        raise WebhookUnreadable(
            "call_id", msg("call_id has characters other than letters, digits and ._:@+-")
        )
    direction = _text(body, "direction", 8, required=True)
    if direction not in DIRECTIONS:
        raise WebhookUnreadable("direction", msg("direction is inbound or outbound"))
    # The customer is the caller of an inbound call and the callee of an outbound one.
    side = "from" if direction == "inbound" else "to"
    raw = _text(body, side, 64, required=True) or ""
    _text(body, "to" if side == "from" else "from", 64)
    region = str(channel.settings.get("region") or "CN")
    customer, is_phone = sender_of(raw, region)
    email, extension = _agent(channel, _text(body, "agent", 254))
    duration = body.get("duration")
    if duration is not None and (
        not isinstance(duration, int) or isinstance(duration, bool) or not 0 <= duration < 86_400
    ):
        raise WebhookUnreadable(
            "duration", msg("duration is a whole number of seconds under a day")
        )
    answered = body.get("answered", False)
    if not isinstance(answered, bool):
        raise WebhookUnreadable("answered", msg("answered is true or false"))
    url = _text(body, "recording_url", 2000, required=event == "recording")
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise WebhookUnreadable("recording_url", msg("recording_url is an http(s) address"))
    transcript = _text(body, "transcript", MAX_TEXT, required=event == "transcript")
    return CallEvent(
        event=event,
        call_id=call_id,
        direction=direction,
        customer=customer,
        is_phone=is_phone,
        agent_email=email,
        agent_extension=extension,
        cause=_text(body, "cause", 64),
        duration=duration,
        answered=answered,
        recording_url=url,
        transcript=transcript,
    )


def caller_key(number: str) -> str:
    """The caller's anonymous id: a keyed hash of the number, not the number, because
    anonymous ids are shown unmasked (the 360 page's identifiers); identity links the
    caller by the ``phone`` trait, which the access layer masks."""
    return f"{CHANNEL}:{blind_index(CHANNEL, '', number).hex()}"


def outcome_of(call: CallEvent, answered_before: bool) -> str:
    """How a hung-up call went: ``answered``; ``missed`` (an inbound call nobody took:
    the customer waits for a callback); ``unanswered`` (we called, they did not pick up)."""
    if answered_before or call.answered:
        return "answered"
    return "missed" if call.direction == "inbound" else "unanswered"


def log_event(
    channel: ChannelView, call: CallEvent, received_at: datetime, answered_before: bool = False
) -> LogEvent:
    """The log event for one CTI event (``answered_before``: the call had an
    ``answered`` event; it decides a hang-up's outcome)."""
    who: dict[str, Any] = {
        "anonymous_id": caller_key(call.customer),
        "traits": {"phone": call.customer} if call.is_phone else None,
    }
    agent = {
        k: v
        for k, v in (("agent_email", call.agent_email), ("agent_extension", call.agent_extension))
        if v
    }
    common = {"call_id": call.call_id, "direction": call.direction, **agent}
    if call.event in ("ringing", "answered"):
        name = RINGING if call.event == "ringing" else ANSWERED
        properties: dict[str, Any] = {"channel_id": channel.id, "thread": call.customer, **common}
        return channel_event(
            channel.source_id, name, channel=CHANNEL, message_id=call.message_id,
            properties=properties, received_at=received_at, **who,
        )  # fmt: skip
    text = ""
    if call.event == "hangup":
        attachment: dict[str, Any] = {
            "type": "call",
            **common,
            "outcome": outcome_of(call, answered_before),
            "duration_seconds": call.duration or 0,
        }
        if call.cause:
            attachment["cause"] = call.cause
    elif call.event == "recording":
        attachment = {"type": "recording", "call_id": call.call_id, "url": call.recording_url}
    else:
        attachment = {"type": "transcript", "call_id": call.call_id}
        text = call.transcript or ""
    properties = {
        "channel_id": channel.id,
        "thread": call.customer,
        "text": text,
        "attachments": [attachment],
        # What the timeline's sentence reads ("来电 4 分钟").
        **common,
        "call_event": call.event,
    }
    if call.event == "hangup":
        properties["duration_seconds"] = call.duration or 0
        properties["outcome"] = attachment["outcome"]
    return channel_event(
        channel.source_id, MESSAGE_RECEIVED, channel=CHANNEL, message_id=call.message_id,
        properties=properties, received_at=received_at, **who,
    )  # fmt: skip
