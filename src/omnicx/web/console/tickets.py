"""The console's ticket pages: ``/desk/tickets`` (the list, its filters and a new-ticket
form) and ``/desk/tickets/{id}`` (fields, comments, linked conversations, history, the
SLA clock).

Pages need ``desk:read``, forms ``desk:reply`` and the session's CSRF token. A ticket is
loaded only through ``desk.tickets.access.load_ticket`` (not visible: 404), changed only
through ``desk.tickets.service``; a page that shows customers commits its audit entry
before it answers, as the API does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput, NotFound, OmniError
from omnicx.core.i18n import Message
from omnicx.customers.directory import list_entry
from omnicx.desk.access import load_conversation, reach_of
from omnicx.desk.models import PRIORITIES
from omnicx.desk.tickets import service
from omnicx.desk.tickets.access import LoadedTicket, load_ticket
from omnicx.desk.tickets.listing import list_tickets
from omnicx.desk.tickets.models import STATUSES, TYPES
from omnicx.governance.access import view_entry
from omnicx.governance.api import client_ip
from omnicx.governance.audit import commit_entry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal, acting_user_id
from omnicx.web.console.ticket_forms import (
    FILTER_FIELDS,
    changes_from,
    customer_for,
    filters_from,
    number,
)
from omnicx.web.console.ticket_views import team_names, ticket_rows, ticket_view
from omnicx.web.pages import Csrf, gate, render, to_login
from omnicx.web.session import check_csrf, signed_in_principal

router = APIRouter(include_in_schema=False)

LIST_TEMPLATE = "desk_tickets.html"
TICKET_TEMPLATE = "desk_ticket.html"
PAGE_SIZE = 25
TicketId = Annotated[int, Path(ge=1, le=2**62)]
Field = Annotated[str | None, Form(max_length=200)]
# Longer than the service's limit, so that a long title gets its own clear error.
Title = Annotated[str | None, Form(max_length=1000)]
CHOICES = {"statuses": STATUSES, "types": TYPES, "priorities": PRIORITIES}


def _values(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    return {k: request.query_params.get(k, "")[:200] for k in names}


@router.get("/desk/tickets", response_class=HTMLResponse)
def tickets_page(request: Request) -> Response:
    principal = gate(request, Permission.DESK_READ, LIST_TEMPLATE)
    if not isinstance(principal, Principal):
        return principal
    return _list_page(request, principal, _values(request, FILTER_FIELDS))


def _list_page(
    request: Request,
    principal: Principal,
    f: dict[str, str],
    *,
    form: dict[str, str] | None = None,
    error: Message | None = None,
    status: int = 200,
) -> HTMLResponse:
    context: dict[str, Any] = CHOICES | {"f": f, "form": form or {}, "rows": [], "error": error}
    cursor = request.query_params.get("cursor", "")[:40] or None
    database = get_database()
    entry = None
    with database.read() as session:
        context["teams"] = sorted(team_names(session).items())
        try:
            found, next_cursor = list_tickets(
                session,
                reach_of(session, principal),
                filters_from(session, f),
                cursor=cursor,
                limit=PAGE_SIZE,
            )
        except OmniError as exc:
            context["error"] = exc.text
            status = exc.status_code
        else:
            context["rows"], shown = ticket_rows(session, principal, found)
            query = {k: v for k, v in f.items() if v}
            context["newest"] = query if cursor else None
            context["older"] = query | {"cursor": next_cursor} if next_cursor else None
            customers = sum(1 for row in context["rows"] if row.ticket.customer_id is not None)
            if customers:
                entry = list_entry(
                    principal,
                    rows=customers,
                    shown=shown,
                    via="page.tickets",
                    ip=client_ip(request),
                )
    if entry is not None:
        commit_entry(database, entry)
    return render(request, LIST_TEMPLATE, context, status=status)


def _poster(request: Request, template: str, back_to: str) -> Principal | Response:
    """The signed-in principal who may change tickets, or the response that turns the
    visitor away (to sign in, and back to ``back_to`` after; or 403 on ``template``)."""
    if signed_in_principal(request) is None:
        return to_login(request, back_to)
    return gate(request, Permission.DESK_REPLY, template)


@router.post("/desk/tickets", response_class=HTMLResponse)
def create_ticket(
    request: Request,
    title: Title = "",
    type: Field = None,
    priority: Field = None,
    team: Field = None,
    customer: Field = None,
    csrf: Csrf = "",
) -> Response:
    typed = {"title": title, "type": type, "priority": priority, "team": team}
    form = {k: v or "" for k, v in (typed | {"customer": customer}).items()}
    principal = _poster(request, LIST_TEMPLATE, "/desk/tickets")
    if not isinstance(principal, Principal):
        return principal
    try:
        check_csrf(request, csrf)
        with get_database().write() as session:
            ticket = service.create_ticket(
                session,
                principal,
                acting_user_id(session, principal),
                title=title or "",
                type=type or "inquiry",
                priority=priority or "normal",
                team_id=number(team or "", "team"),
                customer_id=customer_for(session, customer or ""),
            )
            ticket_id = ticket.id
    except OmniError as exc:
        return _list_page(request, principal, {}, form=form, error=exc.text, status=exc.status_code)
    return RedirectResponse(f"/desk/tickets/{ticket_id}", status_code=303)


@router.get("/desk/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, ticket_id: TicketId) -> Response:
    principal = gate(request, Permission.DESK_READ, TICKET_TEMPLATE)
    if not isinstance(principal, Principal):
        return principal
    return _ticket_page(request, principal, ticket_id)


def _ticket_page(
    request: Request,
    principal: Principal,
    ticket_id: int,
    *,
    error: Message | None = None,
    status: int = 200,
) -> HTMLResponse:
    database = get_database()
    try:
        with database.read() as session:
            view = ticket_view(session, load_ticket(session, principal, ticket_id))
    except NotFound as exc:
        return render(request, TICKET_TEMPLATE, {"missing": exc.text}, status=404)
    if view.ticket.customer_id is not None:
        entry = view_entry(
            principal, view.ticket.customer_id, via="page.ticket", ip=client_ip(request)
        )
        commit_entry(database, entry)
    context = CHOICES | {"t": view, "error": error}
    return render(request, TICKET_TEMPLATE, context, status=status)


def _change(
    request: Request,
    ticket_id: int,
    csrf: str,
    act: Callable[[Session, LoadedTicket], object],
) -> Response:
    """Run ``act`` on the ticket in one transaction, then show the ticket again (or the
    page with the error, in the reader's language and with the error's status)."""
    here = f"/desk/tickets/{ticket_id}"
    principal = _poster(request, TICKET_TEMPLATE, here)
    if not isinstance(principal, Principal):
        return principal
    try:
        check_csrf(request, csrf)
        with get_database().write() as session:
            act(session, load_ticket(session, principal, ticket_id, for_update=True))
    except OmniError as exc:
        return _ticket_page(request, principal, ticket_id, error=exc.text, status=exc.status_code)
    return RedirectResponse(here, status_code=303)


@router.post("/desk/tickets/{ticket_id}", response_class=HTMLResponse)
def change_ticket(
    request: Request,
    ticket_id: TicketId,
    title: Title = None,
    status: Field = None,
    type: Field = None,
    priority: Field = None,
    owner: Field = None,
    team: Field = None,
    csrf: Csrf = "",
) -> Response:
    fields = {"title": title, "status": status, "type": type, "priority": priority}
    fields |= {"owner": owner, "team": team}
    return _change(
        request,
        ticket_id,
        csrf,
        lambda session, loaded: service.update_ticket(session, loaded, changes_from(fields)),
    )


@router.post("/desk/tickets/{ticket_id}/comments", response_class=HTMLResponse)
def comment_on_ticket(
    request: Request,
    ticket_id: TicketId,
    text: Annotated[str, Form(max_length=20_000)] = "",
    csrf: Csrf = "",
) -> Response:
    def comment(session: Session, loaded: LoadedTicket) -> None:
        service.add_comment(session, loaded, text)

    return _change(request, ticket_id, csrf, comment)


@router.post("/desk/tickets/{ticket_id}/conversations", response_class=HTMLResponse)
def link_to_ticket(
    request: Request,
    ticket_id: TicketId,
    conversation: Field = None,
    csrf: Csrf = "",
) -> Response:
    def link(session: Session, loaded: LoadedTicket) -> None:
        conversation_id = number(conversation or "", "conversation")
        if conversation_id is None:
            raise InvalidInput("choose the conversation to link", field="conversation")
        linked = load_conversation(session, loaded.principal, conversation_id)
        service.link_conversation(session, loaded, linked)

    return _change(request, ticket_id, csrf, link)
