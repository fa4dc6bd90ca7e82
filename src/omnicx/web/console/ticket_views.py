"""What the ticket pages show, read in the page's one session: the list's rows and one
ticket, with the names of owners, authors and teams, each customer as the reader's role
sees them, the resolution clock and the history as sentences.

Everything here reads through the desk's and the customers' services; the rules (who may
own a ticket, where its status may go) stay in ``desk.tickets.service``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from omnicx.customers.directory import customer_names
from omnicx.desk.sla.service import ClockState, clock_states
from omnicx.desk.teams import list_teams
from omnicx.desk.tickets.access import LoadedTicket
from omnicx.desk.tickets.detail import (
    LinkedConversation,
    conversations_to_link,
    linked_conversations,
    ticket_detail,
)
from omnicx.desk.tickets.models import Ticket
from omnicx.desk.tickets.schemas import ChangeOut, TicketDetail, TicketOut
from omnicx.desk.tickets.service import (
    TARGET,
    may_move_team,
    next_statuses,
    owner_choices,
)
from omnicx.governance.access import Shown, view_for
from omnicx.governance.service import Principal
from omnicx.governance.users import display_names

CLOCK = "resolution"  # the clock a ticket runs (docs/desk.md, Tickets)
# History fields whose values are people or teams (ids in the history, names on the page).
PEOPLE_FIELDS = ("owner_id",)
TEAM_FIELDS = ("team_id",)


@dataclass(frozen=True)
class TicketRow:
    ticket: TicketOut
    owner: str | None
    team: str | None
    customer: str | None  # the name as the reader's role sees it
    sla: ClockState | None


def ticket_rows(
    session: Session, principal: Principal, tickets: list[Ticket]
) -> tuple[list[TicketRow], list[Shown]]:
    """The list's rows, in a fixed number of queries for the page, and how the customers'
    names were shown (for the list's audit entry)."""
    customers = [t.customer_id for t in tickets if t.customer_id is not None]
    names, shown = customer_names(session, view_for(session, principal), customers)
    people = display_names(session, [t.owner_id for t in tickets if t.owner_id is not None])
    teams = team_names(session)
    clocks = clock_states(session, TARGET, [t.id for t in tickets])
    rows = [
        TicketRow(
            ticket=TicketOut.of(t),
            owner=people.get(t.owner_id) if t.owner_id is not None else None,
            team=teams.get(t.team_id) if t.team_id is not None else None,
            customer=names.get(t.customer_id) if t.customer_id is not None else None,
            sla=clocks.get(t.id, {}).get(CLOCK),
        )
        for t in tickets
    ]
    return rows, shown


def team_names(session: Session) -> dict[int, str]:
    return {team.id: team.name for team in list_teams(session)}


@dataclass(frozen=True)
class Change:
    """One field of one history row, with people and teams named."""

    field: str  # status, type, priority, owner_id, team_id, title
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    actor: str
    action: str  # created, updated, linked, comment
    changes: list[Change] = field(default_factory=list)
    conversation_id: int | None = None


@dataclass(frozen=True)
class TicketView:
    ticket: TicketDetail
    owner: str | None
    team: str | None
    sla: ClockState | None
    authors: dict[int, str]
    conversations: list[LinkedConversation]
    to_link: list[LinkedConversation]
    history: list[HistoryLine]
    statuses: tuple[str, ...]  # where the status may go from here
    owners: list[tuple[int, str]]  # whom the reader may make the owner
    teams: list[tuple[int, str]]  # where the reader may move it (empty: nowhere)


def ticket_view(session: Session, loaded: LoadedTicket) -> TicketView:
    """One ticket as its reader sees it, with what its forms may offer."""
    detail = ticket_detail(session, loaded)
    owners = owner_choices(session, loaded)
    mentioned = _people_in(detail.history)
    people = display_names(
        session,
        [*owners, *mentioned, *(c.author_user_id for c in detail.comments if c.author_user_id)],
    )
    teams = team_names(session)
    return TicketView(
        ticket=detail,
        owner=people.get(detail.owner_id) if detail.owner_id is not None else None,
        team=teams.get(detail.team_id) if detail.team_id is not None else None,
        sla=clock_states(session, TARGET, [detail.id]).get(detail.id, {}).get(CLOCK),
        authors=people,
        conversations=linked_conversations(session, loaded, detail.conversation_ids),
        to_link=conversations_to_link(session, loaded, detail.conversation_ids),
        history=[_line(change, people, teams) for change in detail.history],
        statuses=next_statuses(detail.status),
        owners=[(i, people.get(i, str(i))) for i in owners],
        teams=sorted(teams.items()) if may_move_team(loaded.principal) else [],
    )


def _people_in(history: list[ChangeOut]) -> set[int]:
    found: set[int] = set()
    for change in history:
        for name, value in change.detail.items():
            if name not in PEOPLE_FIELDS:
                continue
            values = value.values() if isinstance(value, dict) else [value]
            found.update(v for v in values if isinstance(v, int))
    return found


def _named(name: str, value: Any, people: dict[int, str], teams: dict[int, str]) -> Any:
    if isinstance(value, int) and name in PEOPLE_FIELDS:
        return people.get(value, value)
    if isinstance(value, int) and name in TEAM_FIELDS:
        return teams.get(value, value)
    return value


def _line(change: ChangeOut, people: dict[int, str], teams: dict[int, str]) -> HistoryLine:
    """A history row with ids turned into names; the template words it."""
    detail = change.detail
    changes: list[Change] = []
    if change.action == "updated":
        for name, values in detail.items():
            values = values if isinstance(values, dict) else {}
            changes.append(
                Change(
                    name,
                    _named(name, values.get("from"), people, teams),
                    _named(name, values.get("to"), people, teams),
                )
            )
    elif change.action == "created":
        changes = [
            Change(name, after=_named(name, detail.get(name), people, teams))
            for name in ("type", "priority", "team_id", "owner_id")
            if detail.get(name) is not None
        ]
    linked = detail.get("conversation_id")
    return HistoryLine(
        at=change.created_at,
        actor=change.actor.removeprefix("user:"),
        action=change.action,
        changes=changes,
        conversation_id=linked if isinstance(linked, int) else None,
    )
