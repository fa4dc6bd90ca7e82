"""The canonical message event every channel appends when a person writes in.

Channel-neutral: web chat, WeChat, SMS and email build the same ``track`` event named
``Message Received``, with the sender's identifiers where identity looks for them
(``anonymousId``, ``userId``, ``context.traits``) and the conversation in ``properties``.
The desk reads these properties; it imports the names from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from omnicx.core.errors import InvalidInput
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.time import utcnow
from omnicx.ingest.tracking import EventInvalid, to_log_event

MESSAGE_RECEIVED = "Message Received"
# What a pre-chat form or a provider profile may tell about the sender.
PROFILE_TRAITS = ("name", "phone", "email")


def message_received(
    source_id: int,
    *,
    channel: str,
    channel_id: int,
    thread: str,
    text: str,
    message_id: str,
    anonymous_id: str | None = None,
    user_id: str | None = None,
    traits: Mapping[str, str | None] | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    received_at: datetime | None = None,
) -> LogEvent:
    """The ``Message Received`` event for one inbound message (validated as any Segment
    call is); ``message_id`` must be unique within the channel's source so that a retry
    is a no-op. Raises ``InvalidInput`` naming the field at fault."""
    raw: dict[str, Any] = {
        "type": "track",
        "event": MESSAGE_RECEIVED,
        "messageId": message_id,
        "properties": {
            "channel": channel,
            "channel_id": channel_id,
            "thread": thread,
            "text": text,
            "message_id": message_id,
            "attachments": [dict(a) for a in attachments],
        },
    }
    if anonymous_id:
        raw["anonymousId"] = anonymous_id
    if user_id:
        raw["userId"] = user_id
    known = {k: v for k, v in (traits or {}).items() if k in PROFILE_TRAITS and v}
    if known:
        raw["context"] = {"traits": known}
    try:
        return to_log_event(
            source_id,
            raw,
            event_type="track",
            prefix="",
            received_at=received_at or utcnow(),
            sent_at=None,
        )
    except EventInvalid as exc:
        raise InvalidInput(exc.message, field=exc.field, code=exc.code) from exc
