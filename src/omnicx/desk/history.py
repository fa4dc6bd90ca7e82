"""What happened to a conversation: the history row of every change (who, what, when)
and the reporting events service reports count."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from omnicx.core.serialization import dumps
from omnicx.core.time import as_utc, utcnow
from omnicx.desk.models import Conversation, ConversationChange, ReportEvent
from omnicx.desk.sla.service import business_seconds, calendar_for, choose_policy

# The reporting events (``desk_report_events.kind``).
FIRST_RESPONSE = "first_response"
REPLY = "reply"
RESOLUTION = "resolution"
REOPEN = "reopen"
HANDOFF = "handoff"


def record_change(
    session: Session,
    conversation: Conversation,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Add a history row (ids, statuses and names only: never message text)."""
    session.add(
        ConversationChange(
            conversation_id=conversation.id,
            actor=actor,
            action=action,
            detail=dumps(detail or {}),
            created_at=at or utcnow(),
        )
    )


def seconds_between(start: datetime | None, end: datetime) -> float | None:
    if start is None:
        return None
    return max(0.0, (as_utc(end) - as_utc(start)).total_seconds())


def record_report(
    session: Session,
    conversation: Conversation,
    kind: str,
    at: datetime,
    since: datetime | None,
    agent_id: int | None = None,
) -> None:
    """A reporting event measuring the seconds from ``since`` to ``at``: on the wall clock,
    and in working time on the calendar of the SLA policy that applies to the
    conversation (empty when none does)."""
    business = None
    policy = choose_policy(session, conversation.team_id, None, conversation.priority)
    if policy is not None and since is not None and as_utc(since) <= as_utc(at):
        calendar = calendar_for(session, policy.calendar_id)
        business = business_seconds(calendar, as_utc(since), as_utc(at)).business_seconds
    session.add(
        ReportEvent(
            conversation_id=conversation.id,
            kind=kind,
            occurred_at=at,
            team_id=conversation.team_id,
            agent_id=agent_id,
            wall_seconds=seconds_between(since, at),
            business_seconds=business,
        )
    )
