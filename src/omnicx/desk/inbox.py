"""The inbox: a page of conversations as an agent reads them — the customer's name as
their role may see it, the last message in short, who holds it, its SLA state.

A page costs the same few queries whatever its length (the conversations, their
customers' names, last messages, clocks, assignees and teams, and the tabs' counts), and
every customer value comes through the reader's ``RoleView``: masked names, masked phone
numbers and e-mails in the previews.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicx.core.serialization import loads
from omnicx.core.time import as_utc
from omnicx.customers.directory import masked_name
from omnicx.customers.service import customers_traits
from omnicx.desk.access import Reach, labels_of
from omnicx.desk.clocks import TARGET
from omnicx.desk.listing import ConversationFilter, count_views, list_conversations
from omnicx.desk.models import Conversation, Message
from omnicx.desk.sla.service import ClockState, clock_states
from omnicx.desk.teams import list_teams
from omnicx.governance.access import RoleView, Shown
from omnicx.governance.users import display_names

PREVIEW_CHARS = 60
# Worst first: the state the SLA badge shows when several clocks are late.
BADGE_STATES = ("breached", "at_risk")


@dataclass(frozen=True)
class SlaBadge:
    state: str  # at_risk | breached
    due_at: datetime | None


@dataclass(frozen=True)
class InboxRow:
    id: int
    channel: str
    status: str
    priority: str
    labels: list[str]
    customer_id: int | None
    customer_name: str | None
    preview: str
    preview_direction: str | None  # in | out; None: nothing written yet
    has_attachments: bool
    # A phone message's call details (channels.phone): the page writes its sentence.
    preview_call: dict[str, Any] | None
    assignee: str | None
    team: str | None
    sla: SlaBadge | None
    waiting_since: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    next_cursor: str | None
    counts: dict[str, int] | None
    # How customer fields were shown, for the read's audit entry.
    shown: list[Shown]
    teams: dict[int, str]  # every team's name (the filter offers them)


def inbox_page(
    session: Session,
    reach: Reach,
    view: RoleView,
    *,
    tab: str,
    filters: ConversationFilter,
    cursor: str | None = None,
    limit: int = 50,
    with_counts: bool = True,
) -> InboxPage:
    """A page of the inbox for ``reach``, shaped for ``view``; the tabs' counts unless
    this is a further page. Raises InvalidInput (a bad filter or cursor)."""
    where = filters.clauses(session, reach)
    conversations, next_cursor = list_conversations(
        session, reach, view=tab, where=where, cursor=cursor, limit=limit
    )
    teams = team_names(session)
    rows, shown = inbox_rows(session, view, conversations, teams)
    counts = count_views(session, reach, where) if with_counts else None
    return InboxPage(rows=rows, next_cursor=next_cursor, counts=counts, shown=shown, teams=teams)


def _call_of(message: Message) -> dict[str, Any] | None:
    """The call, recording or transcript a phone message is about (ids and outcome)."""
    for item in loads(message.attachments or "[]"):
        if isinstance(item, dict) and item.get("type") in ("call", "recording", "transcript"):
            return {k: item.get(k) for k in ("type", "outcome", "direction", "duration_seconds")}
    return None


def team_names(session: Session) -> dict[int, str]:
    return {team.id: team.name for team in list_teams(session)}


def inbox_rows(
    session: Session, view: RoleView, conversations: list[Conversation], teams: dict[int, str]
) -> tuple[list[InboxRow], list[Shown]]:
    """The rows of these conversations, shaped for ``view``."""
    ids = [c.id for c in conversations]
    traits = customers_traits(session, [c.customer_id for c in conversations if c.customer_id])
    names: dict[int, str | None] = {}
    shown: list[Shown] = []
    for customer_id, customer_traits in traits.items():
        names[customer_id], how = masked_name(view, customer_traits)
        shown.extend(how)
    last = _last_messages(session, ids)
    clocks = clock_states(session, TARGET, ids)
    people = display_names(session, [c.assignee_id for c in conversations if c.assignee_id])
    rows = []
    for c in conversations:
        message = last.get(c.id)
        rows.append(
            InboxRow(
                id=c.id,
                channel=c.channel,
                status=c.status,
                priority=c.priority,
                labels=labels_of(c),
                customer_id=c.customer_id,
                customer_name=names.get(c.customer_id) if c.customer_id else None,
                preview=_short(view.text(message.text)) if message else "",
                preview_direction=message.direction if message else None,
                has_attachments=bool(message and message.attachments not in ("", "[]")),
                preview_call=_call_of(message) if message and c.channel == "phone" else None,
                assignee=people.get(c.assignee_id) if c.assignee_id else None,
                team=teams.get(c.team_id) if c.team_id is not None else None,
                sla=badge(clocks.get(c.id, {})),
                waiting_since=as_utc(c.waiting_since) if c.waiting_since else None,
                updated_at=as_utc(c.updated_at),
            )
        )
    return rows, shown


def badge(clocks: dict[str, ClockState]) -> SlaBadge | None:
    """The worst state among a conversation's running clocks, with its due time."""
    for state in BADGE_STATES:
        late = [c for c in clocks.values() if c.open and c.state == state]
        if late:
            due = [c.due_at for c in late if c.due_at is not None]
            return SlaBadge(state=state, due_at=min(due) if due else None)
    return None


def _last_messages(session: Session, conversation_ids: list[int]) -> dict[int, Message]:
    """Each conversation's latest message to or from the customer (notes are not shown
    in a list a customer's name heads)."""
    if not conversation_ids:
        return {}
    latest = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(conversation_ids), Message.direction != "note")
        .group_by(Message.conversation_id)
    )
    rows = session.scalars(select(Message).where(Message.id.in_(latest.scalar_subquery())))
    return {m.conversation_id: m for m in rows}


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"
