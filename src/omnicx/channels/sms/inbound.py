"""A Twilio Messaging webhook (form fields ``MessageSid``, ``From``, ``To``, ``Body``,
``NumMedia``, ``MediaUrl0``…) → the ``Message Received`` event.

The sender's number, in E.164, is the thread and the ``phone`` trait: identity finds the
member known by that phone, so their texts land on their customer. A sender that is no
phone number (a short code, an alphanumeric sender id) is still kept, under its own id.
``MessageSid`` is the log's message id: Twilio's retries are no-ops.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers

from omnicx.channels.messages import message_received
from omnicx.channels.service import ChannelView
from omnicx.channels.sms.keywords import consent_for, keyword_of
from omnicx.core.eventlog.base import LogEvent
from omnicx.governance.blind_index import blind_index

CHANNEL = "sms"
MESSAGE_SID = re.compile(r"^[SM]M[0-9a-fA-F]{32}$")
MAX_TEXT = 20_000
MAX_MEDIA = 10


class WebhookUnreadable(Exception):
    """The form is not a Twilio message (``field`` names what is missing or wrong)."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


@dataclass(frozen=True, slots=True)
class Inbound:
    """What one webhook carried, ready for the log."""

    event: LogEvent
    sender: str
    # STOP, 退订, START…: the text is an opt-out (or opt-in) keyword.
    keyword: str | None


def sender_of(raw: str, region: str) -> tuple[str, bool]:
    """The sender's number in E.164 and True; or, for what is no phone number (a short
    code, a name), the value as sent and False."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return raw, False
    if not phonenumbers.is_valid_number(number):
        return raw, False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True


def _media(form: Mapping[str, str], channel_id: int) -> list[dict[str, Any]]:
    """Twilio's media links (kept as metadata: fetching them needs the account's
    credentials and is not done yet)."""
    count = form.get("NumMedia", "0").strip() or "0"
    if not count.isdigit():
        raise WebhookUnreadable("NumMedia")
    found = []
    for i in range(min(int(count), MAX_MEDIA)):
        url = form.get(f"MediaUrl{i}", "")[:2000]
        if url:
            found.append(
                {
                    "type": "media",
                    "provider": "twilio",
                    "channel_id": channel_id,
                    "url": url,
                    "content_type": form.get(f"MediaContentType{i}", "")[:100],
                }
            )
    return found


def inbound_event(channel: ChannelView, form: Mapping[str, str], received_at: datetime) -> Inbound:
    """The log event for a webhook's form (``WebhookUnreadable`` naming the bad field)."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    if not MESSAGE_SID.match(sid):
        raise WebhookUnreadable("MessageSid")
    raw = form.get("From", "").strip()[:64]
    if not raw:
        raise WebhookUnreadable("From")
    text = form.get("Body", "")[:MAX_TEXT]
    sender, is_phone = sender_of(raw, str(channel.settings.get("region") or "CN"))
    keyword = keyword_of(text) if is_phone else None
    event = message_received(
        channel.source_id,
        channel=CHANNEL,
        channel_id=channel.id,
        thread=sender,
        text=text,
        message_id=f"sms-{sid}",
        anonymous_id=sender_key(sender),
        traits={"phone": sender} if is_phone else None,
        attachments=_media(form, channel.id),
        received_at=received_at,
        consent=consent_for(keyword) if keyword else None,
    )
    return Inbound(event, sender, keyword)


def sender_key(sender: str) -> str:
    """The sender's anonymous id: a keyed hash of the number, not the number, because
    anonymous ids are shown unmasked (the 360 page's identifiers); identity links the
    sender by the ``phone`` trait, which the access layer masks."""
    return f"{CHANNEL}:{blind_index(CHANNEL, '', sender).hex()}"
