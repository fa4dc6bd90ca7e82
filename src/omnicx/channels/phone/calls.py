"""What the webhook writes beside the log: each call's state (answered or not, ended)
and the signatures seen, in the transaction that appends the event."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from omnicx.channels.phone.inbound import CallEvent
from omnicx.channels.phone.models import PhoneCall, PhoneWebhookSignature
from omnicx.channels.phone.signatures import TIMESTAMP_WINDOW_SECONDS, WebhookRefused
from omnicx.core.database import RawStatements
from omnicx.core.time import utcnow

REMEMBER = (
    "INSERT INTO phone_webhook_signatures (channel_id, digest, seen_at) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING digest"
)

# Signatures older than twice the window can no longer be replayed (the window refuses
# them first); each process deletes them now and then.
PRUNE_EVERY_SECONDS = 60.0
_last_prune = 0.0


def was_answered(session: Session, channel_id: int, call_id: str) -> bool:
    """Whether the PBX said the call was answered."""
    answered = session.scalar(
        select(PhoneCall.answered_at).where(
            PhoneCall.channel_id == channel_id, PhoneCall.call_id == call_id
        )
    )
    return answered is not None


def remember_signature(session: Session, channel_id: int, signature: str) -> None:
    """Use a signature up (``WebhookRefused("replayed")`` if it was used before)."""
    digest = hashlib.sha256(signature.encode()).hexdigest()
    raw = RawStatements(session)
    # ON CONFLICT … RETURNING reads the same on SQLite and PostgreSQL (no savepoint).
    if not raw.select(REMEMBER, (channel_id, digest, raw.time(utcnow()))):
        raise WebhookRefused("replayed")
    _prune(session)


def record_call(session: Session, channel_id: int, call: CallEvent, at: datetime) -> None:
    """Move the call's state on (idempotent: a retry or a late event changes nothing
    already set)."""
    row = session.get(PhoneCall, (channel_id, call.call_id))
    if row is None:
        row = PhoneCall(
            channel_id=channel_id, call_id=call.call_id, direction=call.direction, started_at=at
        )
        session.add(row)
    if call.event == "answered" or (call.event == "hangup" and call.answered):
        row.answered_at = row.answered_at or at
    if call.event == "hangup":
        row.ended_at = row.ended_at or at
    session.flush()


def _prune(session: Session) -> None:
    global _last_prune
    now = time.monotonic()
    if now - _last_prune < PRUNE_EVERY_SECONDS:
        return
    _last_prune = now
    horizon = utcnow() - timedelta(seconds=2 * TIMESTAMP_WINDOW_SECONDS)
    session.execute(delete(PhoneWebhookSignature).where(PhoneWebhookSignature.seen_at < horizon))
