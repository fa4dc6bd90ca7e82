"""A visitor's frame → a ``Message Received`` event on the log and a transcript line.

The event is durable in the log before the visitor gets an ack; the transcript line is
written after, and a retry (same client id) is a no-op for both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omnicx.channels.messages import PROFILE_TRAITS, message_received
from omnicx.channels.service import ChannelView
from omnicx.channels.webchat.limits import MAX_TEXT_CHARS
from omnicx.core.eventlog.base import LogEvent

CHANNEL = "webchat"
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_PROFILE_CHARS = 200
MAX_FRAME_BYTES = 32 * 1024


class FrameRefused(Exception):
    """A frame the visitor must be told about (``code`` names the error frame)."""

    def __init__(self, code: str, field: str | None = None):
        super().__init__(code)
        self.code, self.field = code, field


@dataclass(frozen=True, slots=True)
class VisitorMessage:
    client_id: str
    text: str
    profile: dict[str, str]


def parse_message(frame: Any) -> VisitorMessage:
    """Check a ``{"type": "message", ...}`` frame (raises ``FrameRefused``)."""
    if not isinstance(frame, dict) or frame.get("type") != "message":
        raise FrameRefused("invalid_message", "type")
    client_id = frame.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise FrameRefused("invalid_message", "client_id")
    text = frame.get("text")
    if not isinstance(text, str) or not text.strip() or "\x00" in text:
        raise FrameRefused("invalid_message", "text")
    if len(text) > MAX_TEXT_CHARS:
        raise FrameRefused("message_too_long", "text")
    raw_profile = frame.get("profile") or {}
    if not isinstance(raw_profile, dict):
        raise FrameRefused("invalid_message", "profile")
    profile: dict[str, str] = {}
    for key in PROFILE_TRAITS:
        value = raw_profile.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > MAX_PROFILE_CHARS or "\x00" in value:
            raise FrameRefused("invalid_message", f"profile.{key}")
        profile[key] = value.strip()
    return VisitorMessage(client_id=client_id, text=text, profile=profile)


def message_id_for(visitor_id: str, client_id: str) -> str:
    """Scoped by visitor, so one visitor cannot make another's message look like a retry."""
    return f"{visitor_id}-{client_id}"


def visitor_event(
    channel: ChannelView,
    message: VisitorMessage,
    *,
    thread: str,
    visitor_id: str,
    user_id: str | None,
    attachments: Sequence[Mapping[str, Any]] = (),
) -> LogEvent:
    """The canonical event for a visitor's message (and the files it carries)."""
    return message_received(
        channel.source_id,
        channel=CHANNEL,
        channel_id=channel.id,
        thread=thread,
        text=message.text,
        message_id=message_id_for(visitor_id, message.client_id),
        anonymous_id=visitor_id,
        user_id=user_id,
        traits=message.profile,
        attachments=attachments,
    )
