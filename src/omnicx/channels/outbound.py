"""The outbox deliverers of every channel, by outbox kind (``runtime.outbound`` adds
them to the dispatcher)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from omnicx.channels.email.outbound import KIND as EMAIL_KIND
from omnicx.channels.email.outbound import EmailDeliverer
from omnicx.channels.sms.outbound import KIND as SMS_KIND
from omnicx.channels.sms.outbound import SmsDeliverer
from omnicx.channels.sms.status import DeliveryReport
from omnicx.channels.sms.status import delivery_reports as sms_delivery_reports
from omnicx.channels.webchat.outbound import KIND as WEBCHAT_KIND
from omnicx.channels.webchat.outbound import WebchatDeliverer
from omnicx.channels.wechat.outbound import KIND as WECHAT_KIND
from omnicx.channels.wechat.outbound import WechatDeliverer
from omnicx.core.database import Database
from omnicx.core.outbox import Deliverer

# The outbox kind each channel's replies are queued as (a channel not here has no adapter
# yet: its replies stay queued in the desk).
OUTBOX_KINDS = {
    "webchat": WEBCHAT_KIND,
    "wechat": WECHAT_KIND,
    "sms": SMS_KIND,
    "email": EMAIL_KIND,
}


def channel_deliverers(database: Database) -> dict[str, Deliverer]:
    return {
        WEBCHAT_KIND: WebchatDeliverer(database),
        WECHAT_KIND: WechatDeliverer(database),
        SMS_KIND: SmsDeliverer(database),
        EMAIL_KIND: EmailDeliverer(database),
    }


def outbox_kind(channel: str) -> str | None:
    return OUTBOX_KINDS.get(channel)


def delivery_reports(
    session: Session, channel: str, outbox_ids: Iterable[int]
) -> dict[int, DeliveryReport]:
    """What a channel's provider reported of the messages it took, by outbox id (SMS
    status callbacks: sent, delivered, failed); empty for channels that report nothing."""
    return sms_delivery_reports(session, outbox_ids) if channel == "sms" else {}
