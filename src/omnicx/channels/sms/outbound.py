"""Delivering texts: an agent's reply in the customer's SMS thread, or a notification
or marketing text queued for a customer (``purpose`` and ``channel="sms"`` on the outbox
message, so the gate checks their SMS consent at send time: after ``STOP`` a marketing
text is refused, a service reply still goes).

The payload is a reply's (``channels.replies``): ``channel_id``, ``thread`` (the
number), ``text``; a notification through Alibaba Cloud may add ``template_param``.

Idempotent where the provider allows: once a provider took a text, its id is recorded
with the outbox message, and a retry of that message (the dispatcher died before it
marked it sent) does not send it again. The window between the provider's answer and
that record remains: delivery is at least once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from omnicx.channels.models import Channel
from omnicx.channels.replies import queued_reply, reply_channel
from omnicx.channels.service import ChannelView
from omnicx.channels.sms.aliyun import AliyunProvider
from omnicx.channels.sms.providers import (
    Handed,
    SmsProvider,
    TwilioProvider,
    recipient_hash,
    record_sink,
)
from omnicx.channels.sms.setup import phone_number, status_url
from omnicx.channels.sms.status import record_status, sent_before
from omnicx.core.database import Database
from omnicx.core.errors import InvalidInput
from omnicx.core.i18n import msg
from omnicx.core.outbox import DeliveryRefused, OutboxMessage

KIND = "channel.sms"
MAX_TEXT = 1600  # Twilio's limit for one message (it splits it into segments)
TOO_LONG = msg("A text message is at most 1,600 characters: shorten the reply.")
NOT_A_NUMBER = msg("The conversation's sender is not a phone number: texts cannot be sent to it.")
EMPTY = msg("A text message cannot be empty: files cannot be sent by SMS yet.")


class SmsDeliverer:
    """The outbox deliverer for ``channel.sms``."""

    def __init__(self, database: Database):
        self.database = database

    def __call__(self, message: OutboxMessage, payload: dict[str, Any]) -> None:
        reply = queued_reply(message, payload)
        with self.database.read() as session:
            channel = reply_channel(session, reply.channel_id, "sms")
            token = session.scalar(select(Channel.public_token).where(Channel.id == channel.id))
            done = sent_before(session, message.id)
        if done is not None:
            return  # the provider took it on an earlier attempt
        try:
            to = phone_number(reply.thread, str(channel.settings.get("region") or "CN"), "thread")
        except InvalidInput as exc:
            raise DeliveryRefused(NOT_A_NUMBER) from exc
        text = reply.text.strip()
        if not text:
            raise DeliveryRefused(EMPTY)
        if len(text) > MAX_TEXT:
            raise DeliveryRefused(TOO_LONG)
        provider = str(channel.settings.get("provider") or "")
        if provider == "sink":
            sink_id = f"sink-{message.id}"
            with self.database.write() as session:
                record_sink(session, channel.id, sink_id, to, text)
                record_status(
                    session, channel.id, sink_id, "sent",
                    outbox_id=message.id, to_hash=recipient_hash(to),
                )  # fmt: skip
            return
        handed = _provider(channel, token, payload).send(to, text, f"outbox-{message.id}")
        self._record(channel, message.id, to, handed)

    def _record(self, channel: ChannelView, outbox_id: int, to: str, handed: Handed) -> None:
        with self.database.write() as session:
            record_status(
                session, channel.id, handed.provider_id, handed.status,
                outbox_id=outbox_id, to_hash=recipient_hash(to),
            )  # fmt: skip


def _provider(channel: ChannelView, token: str | None, payload: dict[str, Any]) -> SmsProvider:
    if channel.settings.get("provider") == "aliyun":
        given = payload.get("template_param")
        params = {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else None
        return AliyunProvider(channel, params)
    public = str(channel.settings.get("public_url") or "")
    return TwilioProvider(channel, status_url(token, public) if token and public else None)
