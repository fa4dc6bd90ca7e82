"""WeChat's callback: ``GET`` (the console's URL check) and ``POST`` (messages and events)
at ``/wechat/callback/{public token}``, the URL ``omnicx channels create wechat`` prints.

A POST is answered ``success`` once what it carried is durable on the log (WeChat waits
5 seconds, then retries; the retry is a no-op). A forged, stale or replayed signature is
refused (401/403) and audited, and nothing from it reaches the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from omnicx.channels.refusals import audit_refusal
from omnicx.channels.service import ChannelView, channel_for_token
from omnicx.channels.wechat.callbacks import openid_hash, record_callback, record_interaction
from omnicx.channels.wechat.inbound import Inbound, inbound_event, parse
from omnicx.channels.wechat.media import schedule_fetch
from omnicx.channels.wechat.signatures import (
    MAX_BODY_BYTES,
    CallbackRefused,
    CallbackUnreadable,
    SignedQuery,
    check_url_signature,
    open_body,
    signed_query,
)
from omnicx.channels.wechat.users import schedule_user_info
from omnicx.core.database import get_database
from omnicx.core.errors import (
    Forbidden,
    InvalidInput,
    OmniError,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthenticated,
)
from omnicx.core.eventlog.base import EventLog
from omnicx.core.time import utcnow
from omnicx.governance.api import client_ip

log = logging.getLogger(__name__)
router = APIRouter(tags=["wechat"])
CHANNEL_CACHE_SECONDS = 30.0
# Refusals a caller can act on: the error each reason answers with (made per refusal).
REFUSALS: dict[str, Callable[[], OmniError]] = {
    "unsigned": lambda: Unauthenticated(
        "a WeChat callback needs signature, timestamp and nonce", code="signature_missing"
    ),
    "forged": lambda: Unauthenticated(
        "the WeChat signature does not match this channel's token", code="signature_invalid"
    ),
    "wrong_app": lambda: Unauthenticated(
        "the message was encrypted for another WeChat app", code="signature_invalid"
    ),
    "stale": lambda: Forbidden(
        "the WeChat callback's timestamp is more than 5 minutes from now", code="signature_stale"
    ),
    "replayed": lambda: Forbidden(
        "this WeChat signature was already used for another message", code="signature_replayed"
    ),
    "plaintext_refused": lambda: Forbidden(
        "this channel has an AES key: it accepts only encrypted callbacks (compatible or "
        "safe mode)",
        code="encryption_required",
    ),
    "no_aes_key": lambda: Forbidden(
        "this channel has no AES key: add one to read encrypted callbacks",
        code="encryption_unavailable",
    ),
}


class _Channels:
    """Channels by public token, kept 30 s per process: WeChat calls often, and a
    changed or disabled channel takes effect within that time."""

    def __init__(self) -> None:
        self._views: dict[str, tuple[float, ChannelView]] = {}

    def get(self, token: str) -> ChannelView:
        now = time.monotonic()
        cached = self._views.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        with get_database().read() as session:
            view = channel_for_token(session, token, "wechat")
        if len(self._views) > 1000:
            self._views.clear()
        self._views[token] = (now + CHANNEL_CACHE_SECONDS, view)
        return view


_channels = _Channels()


async def _channel(token: str) -> ChannelView:
    return await asyncio.to_thread(_channels.get, token)


async def _refuse(request: Request, channel: ChannelView, reason: str) -> OmniError:
    """Audit the refusal; the error to answer with."""
    ip = client_ip(request)
    await asyncio.to_thread(audit_refusal, get_database(), channel.id, reason, ip, via="wechat")
    return REFUSALS[reason]()


def _signed(request: Request, channel: ChannelView) -> SignedQuery:
    query = signed_query(request.query_params, time.time())
    check_url_signature(channel.secrets.get("token", ""), query)
    return query


@router.get("/wechat/callback/{token}", include_in_schema=False)
async def verify_callback(token: str, request: Request) -> PlainTextResponse:
    """The console's check that the URL is ours: answer ``echostr`` if signed."""
    channel = await _channel(token)
    try:
        _signed(request, channel)
    except CallbackRefused as exc:
        raise await _refuse(request, channel, exc.reason) from exc
    echo = request.query_params.get("echostr") or ""
    if not echo or len(echo) > 200:
        raise InvalidInput("echostr is missing", field="echostr")
    return PlainTextResponse(echo)


@router.post("/wechat/callback/{token}", include_in_schema=False)
async def receive_callback(token: str, request: Request) -> PlainTextResponse:
    """A message or event: durable on the log, then ``success``."""
    channel = await _channel(token)
    body = await _body(request)
    received_at = utcnow()
    try:
        query = _signed(request, channel)
        xml = open_body(
            body,
            query,
            token=channel.secrets.get("token", ""),
            app_id=str(channel.settings.get("app_id") or ""),
            aes_key=channel.secrets.get("aes_key") or None,
        )
        inbound = inbound_event(channel, parse(xml), received_at)
    except CallbackRefused as exc:
        raise await _refuse(request, channel, exc.reason) from exc
    except CallbackUnreadable as exc:
        code = "callback_" + exc.reason  # e.g. callback_malformed_xml
        raise InvalidInput(
            "the WeChat callback's body is not a message this channel can read", code=code
        ) from exc
    event_log: EventLog = request.app.state.event_log
    record = partial(_record, channel, query, inbound, received_at)
    try:
        await event_log.append_recorded([inbound.event], record)
    except CallbackRefused as exc:  # a replayed signature
        raise await _refuse(request, channel, exc.reason) from exc
    except Exception as exc:
        log.exception("WeChat callback on channel %s not stored", channel.id)
        raise ServiceUnavailable("the message could not be stored; WeChat will retry") from exc
    return PlainTextResponse("success")


async def _body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge("a WeChat callback is at most 64 KB")
    return bytes(body)


def _record(
    channel: ChannelView,
    query: SignedQuery,
    inbound: Inbound,
    received_at: datetime,
    session: Session,
) -> None:
    """The nonce (a replayed signature is refused here), the reply window, a medium's
    fetch and a new follower's user info, durable with the log append (in its very
    transaction on the table log)."""
    app_id = str(channel.settings.get("app_id") or "")
    record_callback(session, channel.id, query.timestamp, query.nonce, inbound.event.message_id)
    if inbound.opens_window:
        at = min(inbound.event.occurred_at, received_at)
        key = openid_hash(app_id, inbound.openid)
        if record_interaction(session, channel.id, key, at):
            schedule_user_info(session, channel.id, key, inbound.openid)
    if inbound.media is not None:
        schedule_fetch(session, channel.id, inbound.event.message_id, inbound.openid, inbound.media)
