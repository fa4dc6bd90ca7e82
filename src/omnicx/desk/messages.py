"""The canonical message event: how every channel puts a message on the event log.

A message is a Segment ``track`` call, so it lands on the customer's cross-channel
timeline and identity stitches its sender like any other event:

* name ``Message Received`` (customer → us) or ``Message Sent`` (agent → customer);
* the sender's identifiers where identity looks for them: ``userId``, ``anonymousId``,
  ``context.traits.phone`` / ``email``, ``context.externalIds`` (e.g.
  ``{"type": "wechat_openid", "collection": APP_ID, "id": openid}``);
* ``properties``: ``channel``, ``thread`` (the channel's thread key), ``text``,
  ``message_id`` (unique per channel) and ``attachments``.

Channel adapters build the call with ``message_call`` and append it through ingest; the
desk group (``desk.processor``) reads it back with ``read_message``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from omnicx.channels.messages import MESSAGE_RECEIVED
from omnicx.core.eventlog.base import LogEvent

RECEIVED = MESSAGE_RECEIVED  # what channel adapters append (channels.messages)
SENT = "Message Sent"
CHANNELS = ("webchat", "wechat", "sms", "email", "phone", "api")
MAX_TEXT = 20_000


@dataclass(frozen=True)
class Sender:
    """Who the customer is, as the channel knows them (any of these may be missing)."""

    user_id: str | None = None
    anonymous_id: str | None = None
    phone: str | None = None
    email: str | None = None
    # (type, collection, id), e.g. ("wechat_openid", APP_ID, openid).
    external_ids: tuple[tuple[str, str, str], ...] = ()

    def fields(self, channel: str) -> dict[str, Any]:
        """The call's identifying fields, where identity looks for them.

        Segment wants a userId or an anonymousId: a channel that knows neither (WeChat
        knows an openid, SMS a phone number) gets an anonymous id made of the identifier
        it does know, which belongs to the same person."""
        call: dict[str, Any] = {}
        if self.user_id:
            call["userId"] = self.user_id
        if self.anonymous_id:
            call["anonymousId"] = self.anonymous_id
        if not call:
            known = [f"{k}:{c}:{v}" for k, c, v in self.external_ids] + [
                v for v in (self.phone, self.email) if v
            ]
            if not known:
                raise ValueError("a message's sender needs at least one identifier")
            call["anonymousId"] = f"{channel}:{known[0]}"[:200]
        context: dict[str, Any] = {}
        traits = {k: v for k, v in (("phone", self.phone), ("email", self.email)) if v}
        if traits:
            context["traits"] = traits
        if self.external_ids:
            context["externalIds"] = [
                {"type": kind, "collection": collection, "id": value}
                for kind, collection, value in self.external_ids
            ]
        if context:
            call["context"] = context
        return call


def message_call(
    *,
    direction: str,
    channel: str,
    thread: str,
    text: str,
    message_id: str,
    sender: Sender,
    timestamp: datetime,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Segment ``track`` call for one message (``direction``: ``in`` or ``out``)."""
    if direction not in ("in", "out"):
        raise ValueError("a message on the log is received (in) or sent (out)")
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}")
    return {
        "type": "track",
        "event": RECEIVED if direction == "in" else SENT,
        "messageId": f"{channel}:{message_id}",
        "timestamp": timestamp.isoformat(),
        **sender.fields(channel),
        "properties": {
            "channel": channel,
            "thread": thread,
            "text": text,
            "message_id": message_id,
            "attachments": attachments or [],
        },
    }


@dataclass
class ChannelMessage:
    """A message event as the desk reads it."""

    direction: str  # in | out
    channel: str
    thread: str
    text: str
    message_id: str
    attachments: list[Any] = field(default_factory=list)


def read_message(event: LogEvent) -> ChannelMessage | None:
    """The message an event carries, or None for any other event (or a malformed one:
    without a known channel and a thread the desk cannot place it)."""
    if event.type != "track" or event.name not in (RECEIVED, SENT):
        return None
    props = event.payload.get("properties")
    if not isinstance(props, dict):
        return None
    channel, thread = props.get("channel"), props.get("thread")
    if channel not in CHANNELS or not isinstance(thread, str | int) or str(thread) == "":
        return None
    text = props.get("text")
    attachments = props.get("attachments")
    message_id = props.get("message_id")
    return ChannelMessage(
        direction="in" if event.name == RECEIVED else "out",
        channel=str(channel),
        thread=str(thread)[:200],
        text=(text if isinstance(text, str) else "")[:MAX_TEXT],
        message_id=str(message_id)[:200] if message_id not in (None, "") else event.message_id,
        attachments=attachments if isinstance(attachments, list) else [],
    )


def sender_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """The identifying fields of a stored call (to address a reply to the same person)."""
    picked: dict[str, Any] = {k: payload[k] for k in ("userId", "anonymousId") if payload.get(k)}
    context = payload.get("context")
    if isinstance(context, dict):
        kept = {k: context[k] for k in ("traits", "externalIds") if k in context}
        traits = kept.get("traits")
        if isinstance(traits, dict):
            kept["traits"] = {k: v for k, v in traits.items() if k in ("phone", "email")}
        if kept:
            picked["context"] = kept
    return picked
