"""A visitor's files: ``POST /widget/attachments`` sends one, ``GET
/widget/attachments/{id}`` downloads one of their thread's by its signed link.

The upload is admitted as the socket admits a visitor: the channel's allowed origins,
the visitor id the server signed (or the site's signature on its user), and the same
rate limits (the thread's and the address's messages, plus uploads per address). The
file is kept in the channels' media store (the desk's attachment store: size and type
limits, encryption), then its message goes on the log and in the transcript, in that
order, as a text message does. Refusals answer JSON ``{"error": {code, message,
field}}`` in the widget's language, with CORS headers so the widget can show them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from omnicx.channels.media import StoredMedia, media_store
from omnicx.channels.service import ChannelView
from omnicx.channels.webchat.api import chat_channel, webchat_state
from omnicx.channels.webchat.errors import error_frame, language_of
from omnicx.channels.webchat.inbound import (
    CHANNEL,
    CLIENT_ID,
    FrameRefused,
    VisitorMessage,
    message_id_for,
    visitor_event,
)
from omnicx.channels.webchat.links import link_valid, with_links
from omnicx.channels.webchat.models import INBOUND
from omnicx.channels.webchat.signatures import thread_for, user_vouched, visitor_of
from omnicx.channels.webchat.transcript import record_line
from omnicx.core.database import get_database
from omnicx.core.errors import NotFound, OmniError
from omnicx.core.eventlog.base import EventLog
from omnicx.core.i18n import DEFAULT_LANGUAGE, msg, negotiate_language
from omnicx.core.uploads import Upload, download_headers, read_upload

log = logging.getLogger(__name__)
router = APIRouter(tags=["web chat"])
STATUS = {
    "rate_limited": 429,
    "unknown_channel": 404,
    "origin_not_allowed": 403,
    "identity_refused": 401,
    "invalid_message": 400,
    "unavailable": 503,
}


class Uploader:
    """The visitor an upload comes from, once admitted."""

    def __init__(self, channel: ChannelView, visitor_id: str, user_id: str | None):
        self.channel, self.visitor_id, self.user_id = channel, visitor_id, user_id
        self.thread = thread_for(visitor_id, user_id)


def _cors(origin: str | None) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def _refusal(code: str, language: str, origin: str | None, field: str | None = None) -> Response:
    body = error_frame(code, language, field)
    error = {"code": code, "message": body["message"], "field": field}
    return JSONResponse({"error": error}, status_code=STATUS[code], headers=_cors(origin))


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _admit(request: Request) -> Uploader:
    """The channel and visitor of an upload (``FrameRefused`` naming why not)."""
    query = request.query_params
    try:
        channel = await asyncio.to_thread(chat_channel, query.get("token") or "")
    except NotFound as exc:
        raise FrameRefused("unknown_channel") from exc
    if not channel.allows_origin(request.headers.get("origin")):
        raise FrameRefused("origin_not_allowed")
    key = request.app.state.settings.secret_key.get_secret_value()
    # Only a visitor the socket already welcomed uploads: no new visitor ids here.
    visitor_id = visitor_of(key, channel.id, query.get("visitor"))
    user_id, claimed = query.get("user_id"), query.get("user_hash")
    if visitor_id is None or (
        (user_id or claimed)
        and not user_vouched(channel.identity_secret, user_id or "", claimed or "")
    ):
        raise FrameRefused("identity_refused")
    return Uploader(channel, visitor_id, user_id or None)


def _keep_file(uploader: Uploader, message_id: str, upload: Upload) -> StoredMedia:
    with get_database().write() as session:
        return media_store().store(
            session,
            upload.data,
            name=upload.name,
            declared_type=upload.declared_type,
            channel=CHANNEL,
            thread=uploader.thread,
            message_id=message_id,
        )


def _record(uploader: Uploader, message_id: str, stored: StoredMedia) -> None:
    with get_database().write() as session:
        record_line(
            session,
            channel_id=uploader.channel.id,
            thread=uploader.thread,
            direction=INBOUND,
            message_id=message_id,
            text="",
            attachments=[stored.metadata()],
        )


async def _send_file(request: Request, uploader: Uploader, upload: Upload) -> dict[str, Any]:
    """Keep the file, then put its message on the log and in the transcript; the ack."""
    client_id = upload.fields.get("client_id", "")
    if not CLIENT_ID.match(client_id):
        raise FrameRefused("invalid_message", "client_id")
    message_id = message_id_for(uploader.visitor_id, client_id)
    try:
        stored = await asyncio.to_thread(_keep_file, uploader, message_id, upload)
    except OmniError:
        raise  # the file's size or type: the visitor is told why
    except Exception as exc:
        log.exception("web chat file not stored")
        raise FrameRefused("unavailable") from exc
    event = visitor_event(
        uploader.channel,
        VisitorMessage(client_id=client_id, text="", profile={}),
        thread=uploader.thread,
        visitor_id=uploader.visitor_id,
        user_id=uploader.user_id,
        attachments=[stored.metadata()],
    )
    event_log: EventLog = request.app.state.event_log
    try:
        await event_log.append([event])
        await asyncio.to_thread(_record, uploader, message_id, stored)
    except Exception as exc:
        log.exception("web chat file message not stored")
        raise FrameRefused("unavailable") from exc
    key = request.app.state.settings.secret_key.get_secret_value()
    ack = {"type": "ack", "client_id": client_id, "message_id": message_id}
    return with_links({**ack, "attachments": [stored.metadata()]}, key)


@router.post("/widget/attachments", include_in_schema=False)
async def visitor_upload(request: Request) -> Response:
    """A visitor sends a file (multipart: ``file`` and ``client_id``; the socket's query
    parameters ``token``, ``visitor``, ``user_id``, ``user_hash``, ``lang``)."""
    language = language_of(request.query_params.get("lang"))
    limits, _ = webchat_state(request.app)
    ip, origin = _client_ip(request), request.headers.get("origin")
    allowed: str | None = None
    try:
        # Counted before anything reads the database or the body.
        if not limits.ip_uploads.take(ip):
            raise FrameRefused("rate_limited")
        uploader = await _admit(request)
        allowed = origin
        key = f"{uploader.channel.id}:{uploader.thread}"
        if not limits.visitor_messages.take(key) or not limits.ip_messages.take(ip):
            raise FrameRefused("rate_limited")
        upload = await read_upload(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
            max_file_bytes=request.app.state.settings.attachment_max_bytes,
        )
        ack = await _send_file(request, uploader, upload)
    except FrameRefused as exc:
        return _refusal(exc.code, language, allowed, exc.field)
    except OmniError as exc:  # the file's size or type, a malformed form
        return JSONResponse(
            exc.to_body(language), status_code=exc.status_code, headers=_cors(allowed)
        )
    return JSONResponse(ack, status_code=201, headers=_cors(allowed))


def _read_file(attachment_id: int) -> tuple[StoredMedia, bytes]:
    with get_database().read() as session:
        found = media_store().read(session, attachment_id)
    return found.media, found.data


@router.get("/widget/attachments/{attachment_id}", include_in_schema=False)
async def visitor_download(
    request: Request,
    attachment_id: Annotated[int, Path(ge=1, le=2**62)],
    expires: Annotated[int, Query(ge=0, le=2**40)],
    signature: Annotated[str, Query(max_length=64)],
) -> Response:
    """A file of the visitor's thread, by the link its frame carried."""
    limits, _ = webchat_state(request.app)
    if not limits.ip_downloads.take(_client_ip(request)):
        language = negotiate_language(request.headers.get("accept-language"))
        return _refusal("rate_limited", language or DEFAULT_LANGUAGE, None)
    key = request.app.state.settings.secret_key.get_secret_value()
    if not link_valid(key, attachment_id, expires, signature):
        # Expired or forged alike: nothing says whether the file exists.
        raise NotFound(msg("no attachment {attachment_id}", attachment_id=attachment_id))
    media, data = await asyncio.to_thread(_read_file, attachment_id)
    headers = download_headers(media.name, media.content_type, media.size)
    media_type = headers.pop("Content-Type")
    return Response(data, media_type=media_type, headers=headers)
