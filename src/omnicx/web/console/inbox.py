"""``GET /desk``: the agent's inbox — tabs (mine, unassigned, my teams', all) with
counts, filters, a search, the conversations as rows, more on demand, and live.

The list is read through the desk's services for the signed-in user's reach and role
(``desk.inbox``): customers' names and the previews are masked as the role sees them, and
every read is audited like the customer list (``customers.list``, never the query). The
list refreshes itself when ``static/console.js`` says a conversation changed
(``data-live-inbox``: it fetches ``/desk/rows`` with the same filters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape

from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.i18n import Message, msg
from omnicx.desk.access import reach_of
from omnicx.desk.inbox import InboxPage, inbox_page, team_names
from omnicx.desk.listing import SLA_STATES, VIEWS, ConversationFilter, list_entry
from omnicx.desk.messages import CHANNELS
from omnicx.desk.models import STATUSES
from omnicx.governance.access import unmasked_fields, view_for
from omnicx.governance.api import client_ip
from omnicx.governance.audit import commit_entry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.web.language import translate
from omnicx.web.pages import gate, render
from omnicx.web.session import signed_in_principal

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
ANY = "any"  # the status filter's "any status" (no status parameter means open)
Tab = Literal["mine", "unassigned", "team", "all"]
StatusChoice = Literal["any", "bot", "open", "pending", "snoozed", "resolved"]
SlaChoice = Literal["", "at_risk", "breached"]


@dataclass(frozen=True)
class InboxQuery:
    """The inbox's filters as the URL carries them (the live refresh sends them back)."""

    view: str | None
    status: str
    channel: str
    label: str
    sla: str
    team: int | None
    q: str

    def tab(self, principal: Principal) -> str:
        """The tab shown: as asked, else everything for managers, one's own for agents."""
        if self.view:
            return self.view
        return "all" if principal.may(Permission.DESK_MANAGE) else "mine"

    def conversation_filter(self) -> ConversationFilter:
        return ConversationFilter(
            status=None if self.status == ANY else self.status,
            channel=self.channel or None,
            label=self.label.strip() or None,
            team_id=self.team,
            sla=self.sla or None,
            q=self.q.strip() or None,
        )

    def params(self, tab: str) -> dict[str, Any]:
        """The query string of this list on ``tab`` (only what is set)."""
        found = {
            "view": tab,
            "status": self.status,
            "channel": self.channel,
            "label": self.label,
            "sla": self.sla,
            "team": self.team,
            "q": self.q,
        }
        return {k: v for k, v in found.items() if v not in ("", None)}


def inbox_query(
    view: Annotated[Tab | None, Query()] = None,
    status: Annotated[StatusChoice, Query()] = "open",
    channel: Annotated[str, Query(max_length=32, pattern=r"^[a-z]*$")] = "",
    label: Annotated[str, Query(max_length=50)] = "",
    sla: Annotated[SlaChoice, Query()] = "",
    team: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    q: Annotated[str, Query(max_length=200)] = "",
) -> InboxQuery:
    return InboxQuery(view, status, channel, label, sla, team, q)


Filters = Annotated[InboxQuery, Depends(inbox_query)]


def _read(
    request: Request, principal: Principal, query: InboxQuery, cursor: str | None
) -> tuple[InboxPage | None, Message | None, dict[int, str]]:
    """The page (or the error that explains why none), and the teams for the filter;
    the read is audited before it is shown."""
    database = get_database()
    try:
        with database.read() as session:
            page = inbox_page(
                session,
                reach_of(session, principal),
                view_for(session, principal),
                tab=query.tab(principal),
                filters=query.conversation_filter(),
                cursor=cursor,
                limit=PAGE_SIZE,
                with_counts=cursor is None,
            )
    except OmniError as exc:
        with database.read() as session:
            return None, exc.text, team_names(session)
    entry = list_entry(
        principal,
        via="page.desk_inbox",
        rows=len(page.rows),
        search=bool(query.q.strip()),
        unmasked=sorted(set(unmasked_fields(page.shown))),
        ip=client_ip(request),
    )
    commit_entry(database, entry)
    return page, None, page.teams


def _context(principal: Principal, query: InboxQuery, page: InboxPage | None) -> dict[str, Any]:
    tab = query.tab(principal)
    return {
        "f": query,
        "tab": tab,
        "tabs": [(t, query.params(t)) for t in VIEWS],
        "params": query.params(tab),
        "page": page,
    }


@router.get("/desk", response_class=HTMLResponse)
def inbox(request: Request, query: Filters) -> Response:
    principal = gate(
        request,
        Permission.DESK_READ,
        "home.html",
        {"error": msg("Your role may not read the service desk.")},
    )
    if not isinstance(principal, Principal):
        return principal
    page, error, teams = _read(request, principal, query, None)
    context = _context(principal, query, page) | {
        "error": error,
        "teams": teams,
        "channels": CHANNELS,
        "statuses": STATUSES,
        "sla_states": SLA_STATES,
    }
    return render(request, "desk_inbox.html", context, status=400 if error else 200)


@router.get("/desk/rows", response_class=HTMLResponse)
def inbox_rows(
    request: Request,
    query: Filters,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The list (tabs and rows) for a live refresh, or the rows after ``cursor``."""
    principal = signed_in_principal(request)
    if principal is None or not principal.may(Permission.DESK_READ):
        refusal = msg("Sign in again.") if principal is None else msg("Not allowed.")
        text = escape(translate(request, refusal))
        return HTMLResponse(f'<p class="error">{text}</p>', 401 if principal is None else 403)
    page, error, _ = _read(request, principal, query, cursor)
    if error is not None:
        text = escape(translate(request, error))
        return HTMLResponse(f'<p class="error" role="alert">{text}</p>', 400)
    template = "_inbox_rows.html" if cursor else "_inbox_list.html"
    return render(request, template, _context(principal, query, page))
