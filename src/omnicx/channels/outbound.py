"""The outbox deliverers of every channel, by outbox kind (``runtime.outbound`` adds
them to the dispatcher)."""

from __future__ import annotations

from omnicx.channels.email.outbound import KIND as EMAIL_KIND
from omnicx.channels.email.outbound import EmailDeliverer
from omnicx.channels.webchat.outbound import KIND as WEBCHAT_KIND
from omnicx.channels.webchat.outbound import WebchatDeliverer
from omnicx.channels.wechat.outbound import KIND as WECHAT_KIND
from omnicx.channels.wechat.outbound import WechatDeliverer
from omnicx.core.database import Database
from omnicx.core.outbox import Deliverer

# The outbox kind each channel's replies are queued as (a channel not here has no adapter
# yet: its replies stay queued in the desk).
OUTBOX_KINDS = {"webchat": WEBCHAT_KIND, "wechat": WECHAT_KIND, "email": EMAIL_KIND}


def channel_deliverers(database: Database) -> dict[str, Deliverer]:
    return {
        WEBCHAT_KIND: WebchatDeliverer(database),
        WECHAT_KIND: WechatDeliverer(database),
        EMAIL_KIND: EmailDeliverer(database),
    }


def outbox_kind(channel: str) -> str | None:
    return OUTBOX_KINDS.get(channel)
