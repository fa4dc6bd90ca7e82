"""The CTI webhook a PBX posts call events to: ``POST /phone/cti/{public token}``, the
URL ``omnicx channels create phone`` prints.

Refused (401 missing or forged, 403 stale or replayed) unless the channel's secret vouches
for it (``signatures.py``); refusals are audited and nothing from them is kept. A body
that is no CTI event is a 400 (not JSON) or a 422 naming the field. The answer (200,
``{"message_id"}``) comes once the event is durable on the log; the PBX retries
otherwise, and a retry of the same (call id, event) is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from omnicx.channels.phone.calls import record_call, remember_signature, was_answered
from omnicx.channels.phone.inbound import CallEvent, WebhookUnreadable, call_event, log_event, parse
from omnicx.channels.phone.signatures import MAX_BODY_BYTES, WebhookRefused, check_request
from omnicx.channels.refusals import audit_refusal
from omnicx.channels.service import ChannelView, channel_for_token
from omnicx.core.database import get_database
from omnicx.core.errors import (
    Forbidden,
    InvalidInput,
    OmniError,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthenticated,
    Unprocessable,
)
from omnicx.core.eventlog.base import EventLog
from omnicx.core.time import utcnow
from omnicx.governance.api import client_ip

log = logging.getLogger(__name__)
router = APIRouter(tags=["phone"])
REFUSALS: dict[str, Callable[[], OmniError]] = {
    "unsigned": lambda: Unauthenticated(
        "a CTI webhook needs X-OmniCX-Timestamp and X-OmniCX-Signature (or, for a token "
        "channel, Authorization: Bearer)",
        code="signature_missing",
    ),
    "forged": lambda: Unauthenticated(
        "the CTI webhook's signature or token does not match this channel's secret",
        code="signature_invalid",
    ),
    "stale": lambda: Forbidden(
        "the CTI webhook's timestamp is more than 5 minutes from now", code="signature_stale"
    ),
    "replayed": lambda: Forbidden(
        "this CTI webhook signature was already used; sign every attempt anew",
        code="signature_replayed",
    ),
}


def _channel(token: str) -> ChannelView:
    with get_database().read() as session:
        return channel_for_token(session, token, "phone")


def _answered(channel_id: int, call_id: str) -> bool:
    with get_database().read() as session:
        return was_answered(session, channel_id, call_id)


async def _refuse(request: Request, channel: ChannelView, reason: str) -> OmniError:
    """Audit the refusal; the error to answer with."""
    ip = client_ip(request)
    await asyncio.to_thread(audit_refusal, get_database(), channel.id, reason, ip, via="phone")
    return REFUSALS[reason]()


async def _body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge("a CTI webhook is at most 256 KB")
    return bytes(body)


def _record(channel_id: int, signature: str | None, call: CallEvent, session: Session) -> None:
    """The signature used up (a replay is refused here) and the call's state, durable
    with the log append (in its very transaction on the table log)."""
    if signature is not None:
        remember_signature(session, channel_id, signature)
    record_call(session, channel_id, call, utcnow())


@router.post("/phone/cti/{token}", include_in_schema=False)
async def receive_call_event(token: str, request: Request) -> JSONResponse:
    """One call event: durable on the log (and the call's state), then 200."""
    channel = await asyncio.to_thread(_channel, token)
    body = await _body(request)
    auth = str(channel.settings.get("auth") or "hmac")
    secret = channel.secrets.get("webhook_secret", "")
    try:
        signature = check_request(auth, secret, request.headers, body, time.time())
    except WebhookRefused as exc:
        raise await _refuse(request, channel, exc.reason) from exc
    try:
        call = call_event(channel, parse(body))
    except WebhookUnreadable as exc:
        if exc.field is None:
            raise InvalidInput(exc.problem, code="webhook_malformed") from exc
        raise Unprocessable(exc.problem, field=exc.field, code="webhook_invalid") from exc
    answered = call.event == "hangup" and await asyncio.to_thread(
        _answered, channel.id, call.call_id
    )
    event = log_event(channel, call, utcnow(), answered_before=answered)
    event_log: EventLog = request.app.state.event_log
    try:
        await event_log.append_recorded([event], partial(_record, channel.id, signature, call))
    except WebhookRefused as exc:  # a replayed signature
        raise await _refuse(request, channel, exc.reason) from exc
    except Exception as exc:
        log.exception("CTI event on channel %s not stored", channel.id)
        raise ServiceUnavailable("the call event could not be stored; retry") from exc
    return JSONResponse({"message_id": event.message_id})
