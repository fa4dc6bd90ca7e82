"""The conversation list: what a principal may see, filtered, newest activity first,
with keyset paging (on the ``(updated_at, id)`` index).

``q`` finds conversations by their customer (an identifier, a name) or by what was
written in them (``desk.search``); ``sla`` keeps those with an SLA clock now at risk or
breached."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput
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


def encode_cursor(conversation: Conversation) -> str:
    moment = as_utc(conversation.updated_at).isoformat()
    return base64.urlsafe_b64encode(f"{moment}|{conversation.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        moment, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return as_utc(datetime.fromisoformat(moment)), int(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API gave out", field="cursor") from exc


def list_conversations(
    session: Session,
    reach: Reach,
    *,
    view: str = "all",
    status: str | None = None,
    channel: str | None = None,
    label: str | None = None,
    team_id: int | None = None,
    assignee_id: int | None = None,
    sla: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Conversation], str | None]:
    """A page of the conversations ``reach`` may see, most recently changed first.
    Raises InvalidInput (a cursor not given out here, an unknown SLA state, a query with
    nothing to look up)."""
    where: list[ColumnElement[bool]] = [reach.clause()]
    if view == "mine":
        where.append(Conversation.assignee_id == (reach.user_id or -1))
    elif view == "unassigned":
        where.append(Conversation.assignee_id.is_(None))
    elif view == "team":
        where.append(Conversation.team_id.in_(reach.team_ids or (-1,)))
    if status:
        where.append(Conversation.status == status)
    if channel:
        where.append(Conversation.channel == channel)
    if label:
        # Labels are a JSON list of strings: match the quoted name.
        where.append(Conversation.labels.contains(f'"{label}"'))
    if team_id is not None:
        where.append(Conversation.team_id == team_id)
    if assignee_id is not None:
        where.append(Conversation.assignee_id == assignee_id)
    if sla:
        if sla not in SLA_STATES:
            raise InvalidInput(
                msg("sla is one of {names}", names=", ".join(SLA_STATES)), field="sla"
            )
        where.append(Conversation.id.in_(targets_in_state(TARGET, [sla])))
    if q and q.strip():
        where.append(search.matching(session, q.strip()))
    if cursor:
        moment, ident = decode_cursor(cursor)
        where.append(
            or_(
                Conversation.updated_at < moment,
                and_(Conversation.updated_at == moment, Conversation.id < ident),
            )
        )
    rows = list(
        session.scalars(
            select(Conversation)
            .where(*where)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]) if more and rows else None


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
