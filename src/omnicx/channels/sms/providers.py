"""The providers an SMS channel sends through, behind one interface: ``send(to, text,
reference)`` hands a text over and returns the provider's id for it and its status.

* **Twilio** (and Twilio-compatible gateways): ``POST {base}/2010-04-01/Accounts/{sid}/
  Messages.json`` with basic auth (account SID, auth token) and the form fields ``To``,
  ``From``, ``Body``, ``StatusCallback`` (where Twilio reports delivery).
* **Alibaba Cloud SMS** (``aliyun.py``): ``SendSms`` with RPC signature v1, for
  notifications to mainland numbers through an approved template.
* **The sink** (``record_sink``): sends nothing and records what it would have sent
  (``omnicx channels sent``), so a demo runs offline.

A provider raises ``DeliveryRefused`` (with a sentence for the agent) when another
attempt cannot succeed (a number that cannot take texts, wrong credentials) and
``DeliveryFailed`` when it may (the provider down or slow, a rate limit): the outbox
retries those with backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx
from sqlalchemy.orm import Session

from omnicx.channels.service import ChannelView
from omnicx.channels.sms.models import SmsSinkEntry
from omnicx.core.i18n import Message, msg
from omnicx.core.outbox import DeliveryFailed, DeliveryRefused
from omnicx.core.time import utcnow
from omnicx.governance.blind_index import blind_index

TIMEOUT_SECONDS = 10.0
BAD_CREDENTIALS = msg(
    "The SMS provider refused the channel's credentials: an administrator must check "
    "the channel's account and keys."
)
REFUSED = msg("The SMS provider refused the text message; sending it again would not help.")
# Twilio's error codes that another attempt cannot cure.
TWILIO_REFUSALS: dict[int, Message] = {
    21211: msg("The number is not a valid phone number for text messages."),
    21614: msg("The number cannot receive text messages."),
    21610: msg("The customer has unsubscribed from this number's text messages (STOP)."),
    21408: msg("Text messages to this country or region are not enabled for the account."),
    21617: msg("The text message is too long for the SMS provider."),
}


@dataclass(frozen=True, slots=True)
class Handed:
    """A text the provider took: its id there and its first status."""

    provider_id: str
    status: str


class SmsProvider(Protocol):
    def send(self, to: str, text: str, reference: str) -> Handed: ...


def recipient_hash(number: str) -> bytes:
    """The number's blind index, as identity keeps it for a ``phone`` identifier."""
    return blind_index("phone", "", number)


class TwilioProvider:
    """Sends through Twilio's Messages resource (REST API 2010-04-01)."""

    def __init__(self, channel: ChannelView, status_callback: str | None):
        self.channel = channel
        self.status_callback = status_callback

    def send(self, to: str, text: str, reference: str) -> Handed:
        settings = self.channel.settings
        sid = str(settings.get("account_sid") or "")
        url = f"{settings.get('api_base_url')}/2010-04-01/Accounts/{sid}/Messages.json"
        form = {"To": to, "From": str(settings.get("from") or ""), "Body": text}
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        try:
            response = httpx.post(
                url,
                data=form,
                auth=(sid, self.channel.secrets.get("auth_token", "")),
                timeout=TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"Twilio: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (401, 403):
            raise DeliveryRefused(BAD_CREDENTIALS)
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryFailed(f"Twilio: HTTP {response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
        except ValueError as exc:
            raise DeliveryFailed(f"Twilio: HTTP {response.status_code}, not JSON") from exc
        if response.status_code >= 400:
            code = body.get("code") if isinstance(body, dict) else None
            reason = TWILIO_REFUSALS.get(code, REFUSED) if isinstance(code, int) else REFUSED
            raise DeliveryRefused(reason)
        message_sid = body.get("sid") if isinstance(body, dict) else None
        if not isinstance(message_sid, str) or not message_sid:
            raise DeliveryFailed(f"Twilio: HTTP {response.status_code} without a message sid")
        return Handed(message_sid[:64], str(body.get("status") or "queued")[:16])


def record_sink(session: Session, channel_id: int, provider_id: str, to: str, text: str) -> None:
    """The sink provider's "send": what would have gone out, kept for ``omnicx channels
    sent`` (in the transaction that records the send, so a retry records it once)."""
    session.add(
        SmsSinkEntry(
            channel_id=channel_id,
            provider_id=provider_id,
            to_number=to,
            body=text,
            to_hash=recipient_hash(to),
            created_at=utcnow(),
        )
    )
