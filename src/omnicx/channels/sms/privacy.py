"""SMS's records of a person in privacy requests: the texts sent to them (the provider's
id and delivery status) and, with the sink provider, what it would have sent them (the
number and the text). Exported with the person's data, erased with them; found by the
phone's blind index, which identity keeps among the person's identifiers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from omnicx.channels.sms.models import SmsMessage, SmsSinkEntry
from omnicx.core.time import as_utc
from omnicx.governance.privacy import Erasure, Progress, Subject


class SmsTextsHandler:
    """The texts an SMS channel sent the person."""

    name = "sms_texts"

    def export(self, session: Session, subject: Subject, progress: Progress) -> Any:
        hashes = sorted(subject.key_hashes)
        sent = [
            {
                "channel_id": r.channel_id,
                "provider_id": r.provider_id,
                "status": r.status,
                "error_code": r.error_code,
                "updated_at": as_utc(r.updated_at).isoformat(),
            }
            for r in session.scalars(
                select(SmsMessage).where(SmsMessage.to_hash.in_(hashes)).order_by(SmsMessage.id)
            )
        ]
        sink = [
            {
                "channel_id": r.channel_id,
                "to": r.to_number,
                "text": r.body,
                "created_at": as_utc(r.created_at).isoformat(),
            }
            for r in session.scalars(
                select(SmsSinkEntry)
                .where(SmsSinkEntry.to_hash.in_(hashes))
                .order_by(SmsSinkEntry.id)
            )
        ]
        progress(len(sent) + len(sink))
        return {"sent": sent, "sink": sink}

    def erase(self, session: Session, erasure: Erasure) -> None:
        hashes = sorted(erasure.subject.key_hashes)
        for table, model in (("sms_messages", SmsMessage), ("sms_sink", SmsSinkEntry)):
            result = session.execute(delete(model).where(model.to_hash.in_(hashes)))
            erased = int(getattr(result, "rowcount", 0) or 0)
            erasure.count(table, erased)
            if erased:
                erasure.touched_tables.add(table)
