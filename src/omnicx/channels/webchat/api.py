"""The public web chat routes: ``/widget.js`` and the visitor's WebSocket ``/widget/ws``.

Open to the internet, so everything here is bounded: the channel's allowed origins are
checked before anything else, visitors are either anonymous (a server-signed visitor
id) or vouched for by the site (``user_hash``), messages and sockets are rate limited,
and a socket only ever sees its own thread.

Frames (JSON): the server sends ``welcome`` (visitor token, history, the file limits),
``message`` (a transcript line; its files carry signed download links), ``ack`` (a
visitor message is durable), ``error`` (code + translated message); the visitor sends
``message`` (``client_id``, ``text``, optional ``profile``) and ``ping``. Files go over
HTTP (``attachments.py``).
"""

from __future__ import annotations

import asyncio
import logging
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from omnicx.channels.refusals import audit_refusal
from omnicx.channels.service import ChannelView, channel_for_token
from omnicx.channels.webchat.errors import error_frame, language_of
from omnicx.channels.webchat.inbound import (
    MAX_FRAME_BYTES,
    FrameRefused,
    message_id_for,
    parse_message,
    visitor_event,
)
from omnicx.channels.webchat.limits import MAX_TEXT_CHARS, WebchatLimits
from omnicx.channels.webchat.links import with_links
from omnicx.channels.webchat.live import TranscriptFollower
from omnicx.channels.webchat.models import INBOUND
from omnicx.channels.webchat.signatures import (
    issue_visitor,
    thread_for,
    user_vouched,
    visitor_of,
)
from omnicx.channels.webchat.transcript import record_line, thread_history
from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput, NotFound
from omnicx.core.eventlog.base import EventLog

log = logging.getLogger(__name__)
router = APIRouter(tags=["web chat"])
WIDGET_JS = Path(__file__).parent / "static" / "widget.js"
# Close codes (4000-4999 are the application's): the widget does not reconnect on these.
REFUSED = {"unknown_channel": 4404, "origin_not_allowed": 4403, "identity_refused": 4401}
REFUSED["too_many_connections"] = 4429


@cache
def _widget_source() -> bytes:
    return WIDGET_JS.read_bytes()


@router.get("/widget.js", include_in_schema=False)
def widget_js() -> Response:
    """The embeddable widget (vendored; public code, no data)."""
    return Response(
        _widget_source(),
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


def webchat_state(app: Any) -> tuple[WebchatLimits, TranscriptFollower]:
    """This process's rate limits and transcript follower (made on first use)."""
    state = app.state
    if getattr(state, "webchat_limits", None) is None:
        state.webchat_limits = WebchatLimits()
    if getattr(state, "webchat_follower", None) is None:
        state.webchat_follower = TranscriptFollower(get_database())
    return state.webchat_limits, state.webchat_follower


class VisitorSocket:
    """One visitor's connection, after it was admitted."""

    def __init__(self, websocket: WebSocket, channel: ChannelView, language: str):
        self.websocket, self.channel, self.language = websocket, channel, language
        self.visitor_id = ""
        self.user_id: str | None = None
        self.thread = ""
        self._send_lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(orjson.dumps(frame).decode())

    async def refuse(self, code: str) -> None:
        async with self._send_lock:
            await _refuse(self.websocket, code, self.language)


async def _refuse(websocket: WebSocket, code: str, language: str) -> None:
    """Tell the visitor why (translated), then close with a code the widget does not
    reconnect after."""
    await websocket.send_text(orjson.dumps(error_frame(code, language)).decode())
    await websocket.close(REFUSED[code])


@router.websocket("/widget/ws")
async def widget_socket(websocket: WebSocket) -> None:
    """A visitor's live chat (see the module docstring for the frames)."""
    query = websocket.query_params
    language = language_of(query.get("lang"))
    limits, follower = webchat_state(websocket.app)
    await websocket.accept()
    ip = websocket.client.host if websocket.client else "unknown"
    # Counted before anything reads the database, so a flood of sockets costs little.
    if not limits.ip_connects.take(ip):
        await _refuse(websocket, "too_many_connections", language)
        return
    try:
        channel = await asyncio.to_thread(chat_channel, query.get("token") or "")
    except NotFound:
        await _refuse(websocket, "unknown_channel", language)
        return
    visitor = VisitorSocket(websocket, channel, language)
    if not channel.allows_origin(websocket.headers.get("origin")):
        await visitor.refuse("origin_not_allowed")
        return
    key = websocket.app.state.settings.secret_key.get_secret_value()
    visitor_id = visitor_of(key, channel.id, query.get("visitor"))
    visitor_token = query.get("visitor") if visitor_id else None
    if visitor_id is None or visitor_token is None:
        visitor_id, visitor_token = issue_visitor(key, channel.id)
    user_id, claimed = query.get("user_id"), query.get("user_hash")
    if (user_id or claimed) and not user_vouched(
        channel.identity_secret, user_id or "", claimed or ""
    ):
        await asyncio.to_thread(audit_refusal, get_database(), channel.id, "user_hash", ip)
        await visitor.refuse("identity_refused")
        return
    visitor.visitor_id, visitor.user_id = visitor_id, user_id or None
    visitor.thread = thread_for(visitor_id, visitor.user_id)
    # Subscribe before reading the history, so a line written in between is not lost
    # (the widget drops what it already shows, by message_id).
    queue = await follower.subscribe(channel.id, visitor.thread)
    try:
        history = await asyncio.to_thread(_history, channel.id, visitor.thread, key)
        files = websocket.app.state.settings
        await visitor.send(
            {
                "type": "welcome",
                "visitor": visitor_token,
                "visitor_id": visitor_id,
                "signed_in": user_id is not None and user_id != "",
                "prechat": bool(channel.settings.get("prechat")),
                "max_chars": MAX_TEXT_CHARS,
                "max_file_bytes": files.attachment_max_bytes,
                "file_types": files.attachment_types,
                "history": history,
            }
        )
        pusher = asyncio.create_task(_push(visitor, queue, key))
        try:
            await _read(visitor, limits, ip)
        finally:
            pusher.cancel()
    except WebSocketDisconnect:
        pass
    finally:
        follower.unsubscribe(channel.id, visitor.thread, queue)


def chat_channel(token: str) -> ChannelView:
    """The enabled web chat channel of a public token (``NotFound`` otherwise)."""
    with get_database().read() as session:
        return channel_for_token(session, token, "webchat")


def _history(channel_id: int, thread: str, key: str) -> list[dict[str, Any]]:
    with get_database().read() as session:
        lines = thread_history(session, channel_id, thread)
    return [with_links(line.as_frame(), key) for line in lines]


async def _push(visitor: VisitorSocket, queue: asyncio.Queue[Any], key: str) -> None:
    while True:
        line = await queue.get()
        try:
            await visitor.send(with_links(line.as_frame(), key))
        except (WebSocketDisconnect, RuntimeError):
            return


async def _read(visitor: VisitorSocket, limits: WebchatLimits, ip: str) -> None:
    while True:
        received = await visitor.websocket.receive()
        if received["type"] == "websocket.disconnect":
            return
        # Text frames normally; a client library may send the JSON as a binary frame.
        raw = received.get("text") or received.get("bytes") or b""
        frame: Any = None
        try:
            if len(raw) > MAX_FRAME_BYTES:
                raise FrameRefused("message_too_long")
            try:
                frame = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise FrameRefused("invalid_message") from exc
            if isinstance(frame, dict) and frame.get("type") == "ping":
                await visitor.send({"type": "pong"})
                continue
            message = parse_message(frame)
            if not limits.visitor_messages.take(f"{visitor.channel.id}:{visitor.thread}"):
                raise FrameRefused("rate_limited")
            if not limits.ip_messages.take(ip):
                raise FrameRefused("rate_limited")
            await _accept(visitor, message)
        except FrameRefused as exc:
            frame_out = error_frame(exc.code, visitor.language, exc.field)
            if isinstance(frame, dict) and isinstance(frame.get("client_id"), str):
                frame_out["client_id"] = frame["client_id"][:64]
            await visitor.send(frame_out)


async def _accept(visitor: VisitorSocket, message: Any) -> None:
    """Make the message durable on the log, then in the transcript; then ack."""
    channel = visitor.channel
    try:
        event = visitor_event(
            channel,
            message,
            thread=visitor.thread,
            visitor_id=visitor.visitor_id,
            user_id=visitor.user_id,
        )
    except InvalidInput as exc:
        raise FrameRefused("invalid_message", exc.field) from exc
    event_log: EventLog = visitor.websocket.app.state.event_log
    try:
        await event_log.append([event])
        await asyncio.to_thread(
            _record_inbound, channel.id, visitor.thread, event.message_id, message.text
        )
    except Exception as exc:
        log.exception("web chat message not stored")
        raise FrameRefused("unavailable") from exc
    await visitor.send(
        {
            "type": "ack",
            "client_id": message.client_id,
            "message_id": message_id_for(visitor.visitor_id, message.client_id),
        }
    )


def _record_inbound(channel_id: int, thread: str, message_id: str, text: str) -> None:
    with get_database().write() as session:
        record_line(
            session,
            channel_id=channel_id,
            thread=thread,
            direction=INBOUND,
            message_id=message_id,
            text=text,
        )
