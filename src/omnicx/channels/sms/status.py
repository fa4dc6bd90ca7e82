"""Delivery status of the texts a channel sent: what the deliverer recorded when the
provider took a text, moved on by the provider's status callbacks (Twilio's
``MessageStatus``: queued, sending, sent, delivered, undelivered, failed).

Callbacks come out of order and may come before the deliverer has recorded the send;
a status never goes back (``delivered`` is not undone by a late ``sent``), and whichever
of the two writes comes first creates the row. The desk reads the result through
``delivery_reports`` (channels never import the desk).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicx.channels.sms.models import SmsMessage
from omnicx.core.i18n import msg
from omnicx.core.time import utcnow

# Twilio's statuses, in the order they happen; the last three are final.
RANKS = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
}
# The provider's status as the thread shows it (desk's delivery states).
STATES = {"delivered": "delivered", "undelivered": "failed", "failed": "failed"}
REASONS = {
    "undelivered": msg("The carrier could not deliver the text message to this number."),
    "failed": msg("The SMS provider could not send the text message."),
}


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Where the provider says a text stands, for the thread: ``sent`` (handed to the
    carrier), ``delivered`` or ``failed`` with the reason (an English sentence that
    the catalogs translate)."""

    state: str
    reason: str | None = None
    provider_status: str = ""
    error_code: str | None = None


def record_status(
    session: Session,
    channel_id: int,
    provider_id: str,
    status: str,
    *,
    outbox_id: int | None = None,
    error_code: str | None = None,
    to_hash: bytes | None = None,
    first: bool = True,
) -> SmsMessage:
    """Record what is known of a text: its provider's status (kept if it is older than
    the one recorded), and the outbox message and recipient once the deliverer knows
    them. Idempotent; takes the row's lock on PostgreSQL."""
    row = session.scalar(
        select(SmsMessage)
        .where(SmsMessage.channel_id == channel_id, SmsMessage.provider_id == provider_id)
        .with_for_update()
    )
    if row is None:
        row = SmsMessage(
            channel_id=channel_id,
            provider_id=provider_id,
            status=status,
            outbox_id=outbox_id,
            error_code=error_code,
            to_hash=to_hash,
            updated_at=utcnow(),
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            if not first:
                raise
            # The other writer (callback or deliverer) created it meanwhile.
            return record_status(
                session, channel_id, provider_id, status,
                outbox_id=outbox_id, error_code=error_code, to_hash=to_hash, first=False,
            )  # fmt: skip
        return row
    if RANKS.get(status, 0) >= RANKS.get(row.status, 0):
        row.status = status
        row.error_code = error_code or row.error_code
    row.outbox_id = outbox_id if outbox_id is not None else row.outbox_id
    row.to_hash = to_hash if to_hash is not None else row.to_hash
    row.updated_at = utcnow()
    return row


def sent_before(session: Session, outbox_id: int) -> SmsMessage | None:
    """The text an outbox message was already handed to the provider as, if any (a
    retry after the provider took it must not send it again)."""
    return session.scalar(select(SmsMessage).where(SmsMessage.outbox_id == outbox_id))


def delivery_reports(session: Session, outbox_ids: Iterable[int]) -> dict[int, DeliveryReport]:
    """What the provider reported for each of these outbox messages that it took."""
    ids = sorted(set(outbox_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(SmsMessage.outbox_id, SmsMessage.status, SmsMessage.error_code).where(
            SmsMessage.outbox_id.in_(ids)
        )
    )
    out: dict[int, DeliveryReport] = {}
    for outbox_id, status, error_code in rows:
        if outbox_id is None:
            continue
        reason = REASONS.get(status)
        out[int(outbox_id)] = DeliveryReport(
            STATES.get(status, "sent"), str(reason) if reason else None, status, error_code
        )
    return out
