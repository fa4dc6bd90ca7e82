"""A callback's message XML → the event WeChat's follower put on the log.

Messages (text, image, voice with WeChat's recognition text, video, short video,
location, link) become ``Message Received``: the desk threads them into the follower's
conversation. Follower events (follow — from a QR code too —, unfollow, QR code scan,
menu click, menu link) become events on the customer's timeline. Anything else WeChat
adds later is still kept (a message of unknown type, an ``Official Account Event``):
a sender is never dropped.

The log's message id makes WeChat's retries no-ops: ``MsgId`` for a message, and for an
event (which has none) the follower, ``CreateTime`` and the event, as WeChat advises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import xmltodict
from wechatpy.events import BaseEvent
from wechatpy.messages import BaseMessage
from wechatpy.parser import parse_message

from omnicx.channels.messages import ExternalId, channel_event, message_received
from omnicx.channels.service import ChannelView
from omnicx.channels.wechat.signatures import CallbackUnreadable, check_xml
from omnicx.core.eventlog.base import LogEvent

CHANNEL = "wechat"
OPENID_TYPE = "wechat_openid"
MAX_TEXT = 20_000
MAX_FIELD = 2_000
EVENT_NAMES = {
    "subscribe": "Official Account Followed",
    "subscribe_scan": "Official Account Followed",
    "unsubscribe": "Official Account Unfollowed",
    "scan": "QR Code Scanned",
    "click": "Menu Item Clicked",
    "view": "Menu Link Opened",
}
OTHER_EVENT = "Official Account Event"
# What opens WeChat's 48-hour window for customer-service replies besides a message
# (WeChat's rules: following, scanning a code, clicking a menu item; not opening a link).
WINDOW_EVENTS = frozenset({"subscribe", "subscribe_scan", "scan", "click"})
MEDIA_TYPES = frozenset({"image", "voice", "video", "shortvideo"})


@dataclass(frozen=True, slots=True)
class Inbound:
    """What one callback carried, ready for the log."""

    event: LogEvent
    openid: str
    # Whether it opens the 48-hour window for replies (``callbacks.record_callback``).
    opens_window: bool
    # An image, voice or video to fetch from WeChat (``media.schedule_fetch``).
    media: dict[str, Any] | None = None


def parse(xml: str) -> BaseMessage:
    """wechatpy's message or event for the XML (``CallbackUnreadable`` if it is none)."""
    body = xml.encode("utf-8")
    check_xml(body)
    try:
        message = parse_message(xml)
    except (ValueError, KeyError, TypeError, AttributeError, xmltodict.expat.ExpatError) as exc:
        raise CallbackUnreadable("malformed_xml") from exc
    if message is None:
        raise CallbackUnreadable("empty")
    return message


def _text(value: object, limit: int = MAX_FIELD) -> str:
    return value[:limit] if isinstance(value, str) else ""


def sender_id(app_id: str, openid: str) -> str:
    """The anonymous id of a follower (Segment calls need one; see desk.messages)."""
    return f"{CHANNEL}:{OPENID_TYPE}:{app_id}:{openid}"


def inbound_event(channel: ChannelView, message: BaseMessage, received_at: datetime) -> Inbound:
    """The log event for a parsed callback (``CallbackUnreadable`` when it names no
    follower or has no valid time)."""
    data: dict[str, Any] = getattr(message, "_data", {}) or {}
    openid = _text(data.get("FromUserName"), 200).strip()
    created = _text(data.get("CreateTime"), 12)
    if not openid or not created.isdigit():
        raise CallbackUnreadable("no_sender")
    app_id = str(channel.settings.get("app_id") or "")
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "anonymous_id": sender_id(app_id, openid),
        "external_ids": [ExternalId(OPENID_TYPE, app_id, openid)],
        "received_at": received_at,
        "occurred_at": datetime.fromtimestamp(int(created), UTC),
    }
    if isinstance(message, BaseEvent):
        kind = _text(data.get("Event"), 64).lower() or "unknown"
        event = channel_event(
            channel.source_id,
            EVENT_NAMES.get(kind, OTHER_EVENT),
            message_id=f"event-{openid}-{created}-{kind}",
            properties={"channel_id": channel.id, "event": kind, **_event_details(kind, data)},
            **common,
        )
        return Inbound(event, openid, kind in WINDOW_EVENTS)
    msg_type = _text(data.get("MsgType"), 32).lower()
    msg_id = _text(data.get("MsgId"), 64)
    text, attachments = _content(msg_type, data, channel.id)
    event = message_received(
        channel.source_id,
        channel_id=channel.id,
        thread=openid,
        text=text,
        message_id=f"msg-{msg_id}" if msg_id else f"msg-{openid}-{created}-{msg_type}",
        attachments=attachments,
        **common,
    )
    media = attachments[0] if msg_type in MEDIA_TYPES and attachments[0]["media_id"] else None
    return Inbound(event, openid, True, media)


def _event_details(kind: str, data: dict[str, Any]) -> dict[str, str]:
    key = _text(data.get("EventKey"))
    if kind == "view":
        return {"url": key}
    details = {"event_key": key} if key else {}
    if data.get("Ticket"):
        details["ticket"] = _text(data.get("Ticket"))
    if kind == "subscribe_scan":
        details["scene"] = key  # wechatpy took the "qrscene_" prefix off
    return details


def _content(msg_type: str, data: dict[str, Any], channel_id: int) -> tuple[str, list[Any]]:
    """The message's text and its attachments' metadata (media are fetched through the
    media API by a job: ``media.py``)."""
    if msg_type == "text":
        return _text(data.get("Content"), MAX_TEXT), []
    if msg_type in MEDIA_TYPES:
        media: dict[str, Any] = {
            "type": msg_type,
            "provider": CHANNEL,
            "channel_id": channel_id,
            "media_id": _text(data.get("MediaId"), 200),
        }
        for field, name in (("PicUrl", "url"), ("Format", "format"), ("ThumbMediaId", "thumb")):
            if data.get(field):
                media[name] = _text(data.get(field))
        # WeChat's speech recognition, when the account has it on, is the voice's text.
        return _text(data.get("Recognition"), MAX_TEXT), [media]
    if msg_type == "location":
        place = {
            "type": "location",
            "latitude": _text(data.get("Location_X"), 32),
            "longitude": _text(data.get("Location_Y"), 32),
            "scale": _text(data.get("Scale"), 16),
            "label": _text(data.get("Label")),
        }
        return place["label"], [place]
    if msg_type == "link":
        title, url = _text(data.get("Title")), _text(data.get("Url"))
        link = {"type": "link", "title": title, "description": _text(data.get("Description"))}
        return f"{title}\n{url}".strip(), [{**link, "url": url}]
    return "", [{"type": "unsupported", "msg_type": msg_type}]
