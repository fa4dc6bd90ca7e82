"""Twilio's webhooks for an SMS channel: incoming texts at ``/sms/twilio/{public token}``
(the number's Messaging webhook) and the delivery status of the texts it sent at
``/sms/twilio/{public token}/status`` (each send's ``StatusCallback``).

Both are refused (401) unless ``X-Twilio-Signature`` proves Twilio signed them with the
channel's auth token, over the URL the channel was created for; refusals are audited
and nothing from them is kept. An incoming text is answered with TwiML once it is
durable on the log: empty, or for an opt-out keyword the confirmation to the sender.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response

from omnicx.channels.refusals import audit_refusal
from omnicx.channels.service import ChannelView, channel_for_token
from omnicx.channels.sms.inbound import WebhookUnreadable, inbound_event
from omnicx.channels.sms.keywords import confirmation, confirmation_language
from omnicx.channels.sms.setup import inbound_url, status_url
from omnicx.channels.sms.signatures import MAX_BODY_BYTES, WebhookRefused, check_signature
from omnicx.channels.sms.status import RANKS, record_status
from omnicx.core.database import get_database
from omnicx.core.errors import (
    InvalidInput,
    NotFound,
    OmniError,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthenticated,
)
from omnicx.core.eventlog.base import EventLog
from omnicx.core.time import utcnow
from omnicx.governance.api import client_ip

log = logging.getLogger(__name__)
router = APIRouter(tags=["sms"])
TWIML = "text/xml; charset=utf-8"
REFUSALS: dict[str, Callable[[], OmniError]] = {
    "unsigned": lambda: Unauthenticated(
        "a Twilio webhook needs its X-Twilio-Signature header", code="signature_missing"
    ),
    "forged": lambda: Unauthenticated(
        "the X-Twilio-Signature does not match this channel's auth token and URL",
        code="signature_invalid",
    ),
    "wrong_account": lambda: Unauthenticated(
        "the webhook was sent for another Twilio account", code="signature_invalid"
    ),
}


def _channel(token: str) -> ChannelView:
    with get_database().read() as session:
        channel = channel_for_token(session, token, "sms")
    if channel.settings.get("provider") not in ("twilio", "sink"):
        # Alibaba Cloud's numbers send notifications only; nothing posts here for them.
        raise NotFound("no such chat channel", field="token")
    return channel


async def _signed_form(request: Request, channel: ChannelView, url: str) -> dict[str, str]:
    """The webhook's form, once its signature is proven (refusals audited)."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge("a Twilio webhook is at most 64 KB")
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise InvalidInput("the webhook's form is not UTF-8", code="webhook_malformed") from exc
    if request.url.query:
        url = f"{url}?{request.url.query}"
    try:
        check_signature(channel, url, form, request.headers.get("X-Twilio-Signature"))
    except WebhookRefused as exc:
        ip = client_ip(request)
        database = get_database()
        await asyncio.to_thread(audit_refusal, database, channel.id, exc.reason, ip, via="sms")
        raise REFUSALS[exc.reason]() from exc
    return form


def _twiml(message: str | None = None) -> Response:
    inner = f"<Message>{escape(message)}</Message>" if message else ""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'
    return Response(body, media_type=TWIML)


@router.post("/sms/twilio/{token}", include_in_schema=False)
async def receive_text(token: str, request: Request) -> Response:
    """An incoming text: durable on the log, then TwiML (the keyword's confirmation)."""
    channel = await asyncio.to_thread(_channel, token)
    public = str(channel.settings.get("public_url") or "")
    form = await _signed_form(request, channel, inbound_url(token, public))
    try:
        inbound = inbound_event(channel, form, utcnow())
    except WebhookUnreadable as exc:
        raise InvalidInput(
            "the webhook is not a Twilio message", field=exc.field, code="webhook_malformed"
        ) from exc
    event_log: EventLog = request.app.state.event_log
    try:
        await event_log.append([inbound.event])
    except Exception as exc:
        log.exception("SMS on channel %s not stored", channel.id)
        raise ServiceUnavailable("the message could not be stored; Twilio will retry") from exc
    if inbound.keyword is None:
        return _twiml()
    language = confirmation_language(inbound.keyword, inbound.sender)
    return _twiml(confirmation(inbound.keyword).in_language(language))


@router.post("/sms/twilio/{token}/status", include_in_schema=False)
async def receive_status(token: str, request: Request) -> Response:
    """A sent text's delivery status (queued, sent, delivered, undelivered, failed)."""
    channel = await asyncio.to_thread(_channel, token)
    public = str(channel.settings.get("public_url") or "")
    form = await _signed_form(request, channel, status_url(token, public))
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or len(sid) > 64:
        raise InvalidInput("MessageSid is missing", field="MessageSid", code="webhook_malformed")
    if status not in RANKS:
        raise InvalidInput(
            "MessageStatus is not a status Twilio reports", field="MessageStatus",
            code="webhook_malformed",
        )  # fmt: skip
    error = (form.get("ErrorCode") or "")[:16] or None

    def record() -> None:
        with get_database().write() as session:
            record_status(session, channel.id, sid, status, error_code=error)

    try:
        await asyncio.to_thread(record)
    except Exception as exc:
        log.exception("SMS status on channel %s not stored", channel.id)
        raise ServiceUnavailable("the status could not be stored") from exc
    return Response(status_code=204)
