"""Refusing a caller who could not prove who they are, with an audit entry.

Shared by every channel: web chat refuses a user id the site did not sign, WeChat a
callback whose signature is forged, stale or replayed. Nothing from a refused caller
reaches the log; the audit trail says who was refused, where from and why.

The endpoints are open to the internet, so a flood of forged requests must not become a
flood of audit writes: each (channel, address) is audited for a burst, then at a steady
rate; the rest is refused all the same and only counted in the process log.
"""

from __future__ import annotations

import logging
from typing import Any

from omnicx.channels.limits import TokenBuckets
from omnicx.core.database import Database
from omnicx.governance import audit
from omnicx.governance.login import ANONYMOUS

log = logging.getLogger(__name__)

ACTION = "channel.refused"
AUDIT_BURST, AUDITS_PER_SECOND = 20.0, 1.0
_audited = TokenBuckets(AUDIT_BURST, AUDITS_PER_SECOND)


def audit_refusal(
    database: Database, channel_id: int, reason: str, ip: str | None, **detail: Any
) -> bool:
    """Record that a caller was refused on ``channel_id`` (its own write, group-committed
    with concurrent ones). False when the entry was left out (over the address's rate,
    or the audit log unavailable): the caller is refused either way."""
    if not _audited.take(f"{channel_id}:{ip}"):
        log.warning("channel %s: refused %s from %s (not audited: rate)", channel_id, reason, ip)
        return False
    entry = audit.draft(
        ANONYMOUS,
        ACTION,
        target_type="channel",
        target_id=channel_id,
        detail={"reason": reason, **detail},
        ip=ip,
    )
    try:
        audit.commit_entry(database, entry)
    except audit.AuditUnavailable:
        log.exception("channel %s: refusal of %s from %s not audited", channel_id, reason, ip)
        return False
    return True
