"""What an SMS channel sent, newest first, for ``omnicx channels sent``: each text the
provider took with its delivery status; with the sink provider, also what it would have
sent (the number and the text), which is the sink's whole point in a demo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.channels.models import Channel
from omnicx.channels.sms.models import SmsMessage, SmsSinkEntry
from omnicx.core.errors import InvalidInput, NotFound
from omnicx.core.i18n import msg


@dataclass(frozen=True, slots=True)
class SentText:
    at: datetime
    provider_id: str
    outbox_id: int | None
    status: str
    error_code: str | None
    to: str | None = None
    text: str | None = None


def sent_texts(session: Session, channel_name: str, limit: int = 20) -> list[SentText]:
    """The channel's latest ``limit`` texts (``NotFound``, or ``InvalidInput`` for a
    channel that is not an SMS one)."""
    channel = session.scalar(select(Channel).where(Channel.name == channel_name))
    if channel is None:
        raise NotFound(msg("no channel named {name!r}", name=channel_name), field="name")
    if channel.kind != "sms":
        raise InvalidInput(msg("{name!r} is not an SMS channel", name=channel_name), field="name")
    rows = list(
        session.scalars(
            select(SmsMessage)
            .where(SmsMessage.channel_id == channel.id)
            .order_by(SmsMessage.id.desc())
            .limit(limit)
        )
    )
    ids = [r.provider_id for r in rows if r.provider_id.startswith("sink-")]
    sink = {
        e.provider_id: e
        for e in session.scalars(
            select(SmsSinkEntry).where(
                SmsSinkEntry.channel_id == channel.id, SmsSinkEntry.provider_id.in_(ids)
            )
        )
    }
    out = []
    for row in rows:
        kept = sink.get(row.provider_id)
        out.append(
            SentText(
                at=row.updated_at,
                provider_id=row.provider_id,
                outbox_id=row.outbox_id,
                status=row.status,
                error_code=row.error_code,
                to=kept.to_number if kept else None,
                text=kept.body if kept else None,
            )
        )
    return out
