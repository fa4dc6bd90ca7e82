"""What the agent console shows of one conversation: the facts at its head (with the
customer as the reader's role sees them and the SLA clocks), the agents it may go to,
and the customer's other conversations the reader may see.

Reads only; the caller loaded the conversation through ``access.load_conversation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.errors import NotFound
from omnicx.desk.access import LoadedConversation, Reach, labels_of, shown_customer
from omnicx.desk.models import Agent, Conversation, Team
from omnicx.desk.sla.service import ClockState, clock_states
from omnicx.desk.teams import MemberRow, list_agents, members_of
from omnicx.governance.access import Shown
from omnicx.governance.users import get_user

TARGET = "conversation"


@dataclass(frozen=True)
class Assignee:
    user_id: int
    name: str
    presence: str | None  # None: not (or no longer) a desk agent


@dataclass(frozen=True)
class ConversationFacts:
    id: int
    channel: str
    status: str
    priority: str
    labels: list[str]
    snoozed_until: datetime | None
    team_id: int | None
    team_name: str | None
    assignee: Assignee | None
    created_at: datetime
    first_reply_at: datetime | None
    waiting_since: datetime | None
    last_message_at: datetime | None
    resolved_at: datetime | None
    customer_id: int | None
    # The customer's name, phone, e-mail, tags and tier as the reader's role sees them,
    # and how each protected one was shown (for the audit entry of this read).
    customer: dict[str, Any]
    shown: list[Shown]
    # The latest clock of each metric (first response, next response, resolution).
    clocks: list[ClockState]


def conversation_facts(session: Session, loaded: LoadedConversation) -> ConversationFacts:
    row = loaded.row
    team = session.get(Team, row.team_id) if row.team_id is not None else None
    clocks = clock_states(session, TARGET, [row.id]).get(row.id, {})
    customer, shown = shown_customer(session, loaded.view, row.customer_id)
    return ConversationFacts(
        id=row.id,
        channel=row.channel,
        status=row.status,
        priority=row.priority,
        labels=labels_of(row),
        snoozed_until=row.snoozed_until,
        team_id=row.team_id,
        team_name=team.name if team is not None else None,
        assignee=_assignee(session, row.assignee_id),
        created_at=row.created_at,
        first_reply_at=row.first_reply_at,
        waiting_since=row.waiting_since,
        last_message_at=row.last_message_at,
        resolved_at=row.resolved_at,
        customer_id=row.customer_id,
        customer=customer,
        shown=shown,
        clocks=sorted(clocks.values(), key=lambda c: c.clock_id),
    )


def _assignee(session: Session, user_id: int | None) -> Assignee | None:
    if user_id is None:
        return None
    try:
        name = get_user(session, user_id).display_name
    except NotFound:
        name = str(user_id)
    agent = session.get(Agent, user_id)
    return Assignee(user_id, name, agent.presence if agent is not None else None)


def assignable_agents(session: Session, loaded: LoadedConversation) -> list[MemberRow]:
    """Whom the conversation may be given to, with their presence and load: its team's
    agents, or every agent when it has no team."""
    if loaded.row.team_id is None:
        return list_agents(session)
    team = session.get(Team, loaded.row.team_id)
    return members_of(session, team) if team is not None else []


@dataclass(frozen=True)
class ConversationLine:
    """One of a customer's conversations, as a line in a list."""

    id: int
    channel: str
    status: str
    priority: str
    labels: list[str]
    created_at: datetime
    last_message_at: datetime | None


def customer_conversations(
    session: Session, reach: Reach, customer_id: int, limit: int = 20
) -> list[ConversationLine]:
    """The customer's conversations on every channel that ``reach`` may see, latest
    activity first (others' conversations are left out, not counted)."""
    rows = session.scalars(
        select(Conversation)
        .where(Conversation.customer_id == customer_id, reach.clause())
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return [
        ConversationLine(
            id=r.id,
            channel=r.channel,
            status=r.status,
            priority=r.priority,
            labels=labels_of(r),
            created_at=r.created_at,
            last_message_at=r.last_message_at,
        )
        for r in rows
    ]
