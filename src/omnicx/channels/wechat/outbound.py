"""Delivering an agent's reply to a WeChat follower through the customer-service message
API, within WeChat's 48-hour window.

WeChat takes customer-service messages only within 48 hours of the follower's last
interaction (a message, a follow, a QR code scan, a menu click). Outside it the reply
goes out as the channel's service template message, if it has one (``service_template``:
the reply in its ``template_field``), and the thread notes it; without one it is refused
before any call, with a reason the agent reads in the thread. WeChat's own refusals that
retrying cannot cure (window closed, reply limit reached, follower gone) end the same
way. Other failures (network, WeChat busy) are retried by the dispatcher.

Delivery is at least once: a crash after WeChat took the message and before the outbox
row is marked sent sends it again (WeChat has no idempotency key to prevent that).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from omnicx.channels.replies import queued_reply, reply_channel
from omnicx.channels.wechat.callbacks import last_interaction, openid_hash
from omnicx.channels.wechat.client import WechatApi
from omnicx.channels.wechat.tokens import AccessTokens, WechatApiError
from omnicx.core.database import Database
from omnicx.core.i18n import Message, msg
from omnicx.core.outbox import DeliveryFailed, DeliveryRefused, OutboxMessage
from omnicx.core.time import as_utc, utcnow

KIND = "channel.wechat"
REPLY_WINDOW = timedelta(hours=48)
MAX_TEXT_BYTES = 2048

WINDOW_CLOSED = msg(
    "WeChat takes replies only within 48 hours of the customer's last message: the reply "
    "was not sent. It can be sent once the customer writes again."
)
# WeChat's answers that another attempt would not change.
REFUSED_BY_WECHAT: dict[int, Message] = {
    45015: WINDOW_CLOSED,
    45047: msg(
        "WeChat's limit of replies since the customer's last message is reached: the reply "
        "was not sent. It can be sent once the customer writes again."
    ),
    43004: msg(
        "The customer no longer follows the official account: WeChat does not deliver "
        "replies to them."
    ),
    40003: msg("WeChat does not know this customer on this official account."),
    45002: msg("WeChat takes at most 2,048 bytes per message: shorten the reply."),
}
# The template message's own refusals (besides those above).
TEMPLATE_REFUSED: dict[int, Message] = {
    **REFUSED_BY_WECHAT,
    40037: msg(
        "WeChat does not know the channel's service template (invalid template id): the "
        "reply was not sent. Check the template in the WeChat console."
    ),
    47003: msg(
        "WeChat refused the reply as the service template's content (argument invalid): "
        "the reply was not sent."
    ),
    45009: msg("WeChat's daily limit of template messages is reached: the reply was not sent."),
    48001: msg(
        "This official account may not send template messages (api unauthorized): the "
        "reply was not sent."
    ),
}
SENT_AS_TEMPLATE = msg(
    "Sent as a WeChat template message: more than 48 hours have passed since the "
    "customer's last message."
)


class WechatDeliverer:
    """The outbox deliverer for ``channel.wechat``."""

    def __init__(self, database: Database, tokens: AccessTokens | None = None):
        self.database = database
        self.tokens = tokens or AccessTokens(database)

    def __call__(self, message: OutboxMessage, payload: dict[str, Any]) -> Message | None:
        """Send the reply; the note the thread shows when it went as a template."""
        reply = queued_reply(message, payload)
        openid, text = reply.thread, reply.text
        with self.database.read() as session:
            channel = reply_channel(session, reply.channel_id, "wechat")
            key = openid_hash(str(channel.settings.get("app_id") or ""), openid)
            last = last_interaction(session, channel.id, key)
        if len(text.encode()) > MAX_TEXT_BYTES:
            raise DeliveryRefused(REFUSED_BY_WECHAT[45002])
        api = WechatApi(channel, self.tokens)
        if last is None or utcnow() - as_utc(last) > REPLY_WINDOW:
            template = str(channel.settings.get("service_template") or "")
            if not template:
                raise DeliveryRefused(WINDOW_CLOSED)
            field = str(channel.settings.get("template_field") or "content")
            _sent(lambda: api.send_template(openid, template, {field: text}), TEMPLATE_REFUSED)
            return SENT_AS_TEMPLATE
        _sent(lambda: api.send_text(openid, text), REFUSED_BY_WECHAT)
        return None


def _sent(send: Callable[[], None], refused: dict[int, Message]) -> None:
    """Make the call; WeChat's answers that another attempt cannot cure refuse the reply
    for good, the rest fail it for the dispatcher to retry (the client has already
    replaced a refused access token once)."""
    try:
        send()
    except WechatApiError as exc:
        if exc.errcode in refused:
            raise DeliveryRefused(refused[exc.errcode]) from exc
        raise DeliveryFailed(str(exc)) from exc
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
