"""What may leave: the gate every outbound message to a customer passes at send time.

Composed here because it needs three domains that do not know each other: the identity
graph (who the customer is now, after merges, and whether they were erased), the
suppression list and the consent decisions (governance).

A message that names a customer leaves only if, when the dispatcher is about to send it:

1. the customer still exists and was not erased;
2. none of the customer's identifiers is suppressed for all contact (nor for marketing,
   if it is a marketing message);
3. the customer's consent for the message's purpose on its channel is granted — decided
   or by default (service: yes, marketing: no; see ``governance.consent``).

Otherwise it is refused: status ``refused``, the reason in ``last_error``, and an audit
entry ``outbox.refused`` by the system, in the same transaction.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from omnicx.channels.outbound import channel_deliverers
from omnicx.core.database import Database
from omnicx.core.errors import NotFound
from omnicx.core.outbox import DELIVERERS, Dispatcher, OutboxMessage
from omnicx.core.settings import Settings
from omnicx.customers.consent import consent_subject
from omnicx.governance import audit
from omnicx.governance.consent import EVERY_CHANNEL, PURPOSES, consent_status
from omnicx.governance.service import SYSTEM
from omnicx.governance.suppression import suppressed_hashes
from omnicx.identity.service import identifier_hashes_of, was_erased


def refusal_reason(session: Session, message: OutboxMessage) -> str | None:
    """Why this message must not be sent now, or None. Reasons hold no personal data."""
    if message.customer_id is None:
        return None  # nobody to ask: a plain webhook to a system
    purpose, channel = message.purpose, message.channel or EVERY_CHANNEL
    if purpose not in PURPOSES:
        return f"unknown purpose {purpose!r}: consent cannot be checked"
    try:
        subject = consent_subject(session, message.customer_id)
    except NotFound:
        return f"customer {message.customer_id} does not exist"
    ids = sorted(subject.customer_ids)
    if was_erased(session, subject.customer_id):
        return f"customer {subject.customer_id} was erased"
    hashes = identifier_hashes_of(session, ids)
    marketing = purpose == "marketing"
    # One query on the path every sent message takes; telling "all" from "marketing"
    # apart costs a second one only when the message is refused anyway.
    blocked = suppressed_hashes(session, hashes, ("all", "marketing") if marketing else ("all",))
    if blocked:
        if not marketing or suppressed_hashes(session, blocked, ("all",)):
            return "the recipient is suppressed for all contact"
        return "the recipient is suppressed for marketing"
    status = consent_status(session, subject, purpose, channel)
    if status.granted:
        return None
    if status.decided_by is None:
        return f"no {purpose} consent on {channel} (never given; {purpose} is opt-in)"
    decided = status.decided_by
    return (
        f"{purpose} consent on {channel} withdrawn "
        f"({decided.source}, {decided.occurred_at:%Y-%m-%d %H:%M} UTC)"
    )


def consent_gate(session: Session, message: OutboxMessage) -> str | None:
    """The dispatcher's gate: refuse (and audit why) what may not leave now."""
    reason = refusal_reason(session, message)
    if reason is not None:
        audit_refusal(session, message, reason)
    return reason


def audit_refusal(session: Session, message: OutboxMessage, reason: str) -> None:
    """The audit entry of a refused message (by the gate or by its channel's adapter)."""
    audit.record(
        session,
        SYSTEM,
        "outbox.refused",
        target_type="outbox",
        target_id=message.id,
        detail={
            "customer_id": message.customer_id,
            "kind": message.kind,
            "purpose": message.purpose,
            "channel": message.channel,
            "reason": reason,
        },
    )


def make_dispatcher(database: Database, settings: Settings) -> Dispatcher:
    """The dispatcher every process runs: consent and suppression checked on each send,
    webhooks and every channel's deliverers."""
    return Dispatcher(
        database,
        max_attempts=settings.outbox_max_attempts,
        deliverers={**DELIVERERS, **channel_deliverers(database)},
        gate=consent_gate,
        on_refusal=audit_refusal,
    )
