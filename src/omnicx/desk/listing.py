"""The conversation list: what a principal may see, filtered, newest activity first,
with keyset paging (on the ``(updated_at, id)`` index).

``q`` finds conversations by their customer (an identifier, a name) or by what was
written in them (``desk.search``); ``sla`` keeps those with an SLA clock now at risk or
breached."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput, check_text
from omnicx.core.i18n import msg
from omnicx.core.time import as_utc
from omnicx.desk import search
from omnicx.desk.access import Reach
from omnicx.desk.clocks import TARGET
from omnicx.desk.models import Conversation
from omnicx.desk.sla.service import targets_in_state
from omnicx.governance import audit
from omnicx.governance.service import Principal

# The SLA states the inbox filters on: clocks still open and late, or about to be.
SLA_STATES = ("at_risk", "breached")
VIEWS = ("mine", "unassigned", "team", "all")


def encode_cursor(conversation: Conversation) -> str:
    moment = as_utc(conversation.updated_at).isoformat()
    return base64.urlsafe_b64encode(f"{moment}|{conversation.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        moment, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return as_utc(datetime.fromisoformat(moment)), int(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API gave out", field="cursor") from exc


@dataclass(frozen=True)
class ConversationFilter:
    """What the list is narrowed to, besides the view (the inbox's filters)."""

    status: str | None = None
    channel: str | None = None
    label: str | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    sla: str | None = None
    q: str | None = None

    def clauses(self, session: Session, reach: Reach) -> list[ColumnElement[bool]]:
        """The reach and the filters as WHERE clauses (``q`` is looked up once, here).
        Raises InvalidInput (a NUL character, an unknown SLA state, a query with nothing
        to look up)."""
        for text, field in ((self.channel, "channel"), (self.label, "label"), (self.q, "q")):
            check_text(text or "", field)
        where: list[ColumnElement[bool]] = [reach.clause()]
        if self.status:
            where.append(Conversation.status == self.status)
        if self.channel:
            where.append(Conversation.channel == self.channel)
        if self.label:
            # Labels are a JSON list of strings: match the quoted name.
            where.append(Conversation.labels.contains(f'"{self.label}"', autoescape=True))
        if self.team_id is not None:
            where.append(Conversation.team_id == self.team_id)
        if self.assignee_id is not None:
            where.append(Conversation.assignee_id == self.assignee_id)
        if self.sla:
            if self.sla not in SLA_STATES:
                raise InvalidInput(
                    msg("sla is one of {names}", names=", ".join(SLA_STATES)), field="sla"
                )
            where.append(Conversation.id.in_(targets_in_state(TARGET, [self.sla])))
        if self.q and self.q.strip():
            where.append(search.matching(session, self.q.strip()))
        return where


def view_clause(reach: Reach, view: str) -> ColumnElement[bool]:
    """The tab: assigned to me, in no one's hands, my teams', or all I may see."""
    if view == "mine":
        return Conversation.assignee_id == (reach.user_id or -1)
    if view == "unassigned":
        return Conversation.assignee_id.is_(None)
    if view == "team":
        return Conversation.team_id.in_(reach.team_ids or (-1,))
    return true()


def list_conversations(
    session: Session,
    reach: Reach,
    *,
    view: str = "all",
    cursor: str | None = None,
    limit: int = 50,
    where: Sequence[ColumnElement[bool]] | None = None,
    **filters: Any,
) -> tuple[list[Conversation], str | None]:
    """A page of the conversations ``reach`` may see, most recently changed first:
    ``filters`` are ``ConversationFilter``'s, or ``where`` its clauses already made.
    Raises InvalidInput (a cursor not given out here, a bad filter)."""
    if where is None:
        where = ConversationFilter(**filters).clauses(session, reach)
    conditions = [*where, view_clause(reach, view)]
    if cursor:
        moment, ident = decode_cursor(cursor)
        conditions.append(
            or_(
                Conversation.updated_at < moment,
                and_(Conversation.updated_at == moment, Conversation.id < ident),
            )
        )
    rows = list(
        session.scalars(
            select(Conversation)
            .where(*conditions)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]) if more and rows else None


def count_views(
    session: Session, reach: Reach, where: Sequence[ColumnElement[bool]]
) -> dict[str, int]:
    """How many conversations each tab holds under the same filters (one query)."""
    counts = session.execute(
        select(
            *(func.coalesce(func.sum(case((view_clause(reach, v), 1), else_=0)), 0) for v in VIEWS)
        ).where(*where)
    ).one()
    return {view: int(n) for view, n in zip(VIEWS, counts, strict=True)}


def list_entry(
    principal: Principal,
    *,
    via: str,
    rows: int,
    search: bool,
    unmasked: Sequence[str] = (),
    ip: str | None = None,
) -> audit.Draft:
    """The audit entry of a conversation list that shows or searches customers, as the
    customer list's (``customers.list``): how many rows, whether it was a search and
    which fields were shown unmasked; never the query, which may be a phone number."""
    return audit.draft(
        principal,
        "customers.list",
        target_type="customer",
        detail={"via": via, "rows": rows, "search": search, "unmasked": sorted(unmasked)[:50]},
        ip=ip,
    )
