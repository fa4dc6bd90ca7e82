"""The canonical message event every channel appends when a person writes in.

Channel-neutral: web chat, WeChat, SMS and email build the same ``track`` event named
``Message Received``, with the sender's identifiers where identity looks for them
(``anonymousId``, ``userId``, ``context.traits``, ``context.externalIds``), the channel
in ``context.channel`` (the customer's timeline shows it) and the conversation in
``properties``. The desk reads these properties; it imports the names from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnicx.core.errors import InvalidInput
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.time import utcnow
from omnicx.ingest.tracking import EventInvalid, to_log_event

MESSAGE_RECEIVED = "Message Received"
# What a pre-chat form or a provider profile may tell about the sender.
PROFILE_TRAITS = ("name", "phone", "email")


@dataclass(frozen=True, slots=True)
class ExternalId:
    """A provider's identifier of the sender, in Segment's ``context.externalIds`` shape
    (e.g. ``wechat_openid`` in the collection of its app id: identity scopes it so)."""

    type: str
    collection: str
    id: str


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
    external_ids: Sequence[ExternalId] = (),
    attachments: Sequence[Mapping[str, Any]] = (),
    received_at: datetime | None = None,
    occurred_at: datetime | None = None,
    consent: Mapping[str, Mapping[str, bool]] | None = None,
) -> LogEvent:
    """The ``Message Received`` event for one inbound message (validated as any Segment
    call is); ``message_id`` must be unique within the channel's source so that a retry
    is a no-op. Raises ``InvalidInput`` naming the field at fault."""
    return channel_event(
        source_id,
        MESSAGE_RECEIVED,
        channel=channel,
        message_id=message_id,
        properties={
            "channel_id": channel_id,
            "thread": thread,
            "text": text,
            "attachments": [dict(a) for a in attachments],
        },
        anonymous_id=anonymous_id,
        user_id=user_id,
        traits=traits,
        external_ids=external_ids,
        received_at=received_at,
        occurred_at=occurred_at,
        consent=consent,
    )


def channel_event(
    source_id: int,
    name: str,
    *,
    channel: str,
    message_id: str,
    properties: Mapping[str, Any],
    anonymous_id: str | None = None,
    user_id: str | None = None,
    traits: Mapping[str, str | None] | None = None,
    external_ids: Sequence[ExternalId] = (),
    received_at: datetime | None = None,
    occurred_at: datetime | None = None,
    consent: Mapping[str, Mapping[str, bool]] | None = None,
) -> LogEvent:
    """A ``track`` event a channel appends for its sender: a message, or something else
    they did there (followed an account, clicked a menu), which lands on their timeline
    under ``context.channel``. ``consent`` is what the person decided there, per purpose
    and channel (an SMS ``STOP``: ``{"marketing": {"sms": False}}``), carried as the
    ``consent`` trait the consent processor records. Raises ``InvalidInput`` naming the
    field at fault."""
    raw: dict[str, Any] = {
        "type": "track",
        "event": name,
        "messageId": message_id,
        "properties": {"channel": channel, **properties, "message_id": message_id},
    }
    if anonymous_id:
        raw["anonymousId"] = anonymous_id
    if user_id:
        raw["userId"] = user_id
    if occurred_at is not None:
        raw["timestamp"] = occurred_at.isoformat()
    context: dict[str, Any] = {"channel": channel}
    known: dict[str, Any] = {k: v for k, v in (traits or {}).items() if k in PROFILE_TRAITS and v}
    if consent:
        known["consent"] = {p: dict(c) for p, c in consent.items()}
        # The person decided here and now: a decision even if it repeats an earlier one
        # (customers.consent.explicit_decision).
        raw["properties"]["consent_explicit"] = True
    if known:
        context["traits"] = known
    if external_ids:
        context["externalIds"] = [
            {"type": e.type, "collection": e.collection, "id": e.id} for e in external_ids
        ]
    raw["context"] = context
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
