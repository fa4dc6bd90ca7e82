"""The agent console's conversation page: ``GET /desk/conversations/{id}`` and the
fragments it refreshes (``…/summary``: the head with its actions, ``…/thread``: the
messages). The customer panel is ``web.conversation_panel``, the posts
``web.conversation_actions``.

Every read loads the conversation through ``desk.access.load_conversation`` (not visible
is 404) and is audited as a read of its customer, like the desk API's. Fragments refresh
when ``/static/console.js`` triggers ``live`` on them (the conversation changed anywhere)
and when an action on this page answers with ``HX-Trigger: conversation-changed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape
from sqlalchemy.orm import Session

from omnicx.core.database import get_database
from omnicx.core.errors import NotFound
from omnicx.core.i18n import Message, msg
from omnicx.core.time import utcnow
from omnicx.desk.access import LoadedConversation
from omnicx.desk.canned.macros import list_macros
from omnicx.desk.details import assignable_agents, conversation_facts
from omnicx.desk.models import PRIORITIES
from omnicx.desk.service import load_conversation
from omnicx.desk.teams import list_teams
from omnicx.desk.thread import latest_messages
from omnicx.desk.tickets.models import TYPES as TICKET_TYPES
from omnicx.governance.access import Shown, view_entry
from omnicx.governance.api import client_ip
from omnicx.governance.audit import commit_entry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.web.errors import error_page
from omnicx.web.language import translate
from omnicx.web.pages import gate, render, to_login
from omnicx.web.session import signed_in_principal

router = APIRouter(include_in_schema=False)

ConversationId = Annotated[int, Path(ge=1, le=2**62)]
# The newest messages the page shows, and how many more each "Show earlier messages"
# adds, up to MAX_SHOWN; older ones are in the API (paged).
THREAD_LENGTH = 200
MAX_SHOWN = 2000
# The "tomorrow" snooze preset wakes the conversation at this hour, site time.
MORNING_HOUR = 9
CHANGED = "conversation-changed"


def page_path(conversation_id: int) -> str:
    return f"/desk/conversations/{conversation_id}"


def from_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def status_line(
    request: Request,
    message: str | Message,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """One translated line for the page to show: what was done, or (4xx) what was not."""
    text = escape(translate(request, message))
    line = (
        f'<p class="error" role="alert">{text}</p>'
        if status >= 400
        else f'<p class="done" role="status">{text}</p>'
    )
    return HTMLResponse(line, status_code=status, headers=headers)


def refusal(request: Request, message: str | Message, status: int) -> Response:
    """An error where the request came from: a line swapped into the page (htmx), or
    the site's error page (a plain form post, a fragment opened on its own)."""
    if not from_htmx(request):
        return error_page(request, status, message)
    return status_line(request, message, status)


def desk_user(
    request: Request, conversation_id: int, permission: Permission
) -> Principal | Response:
    """The signed-in principal allowed ``permission``, or the answer that turns the
    request away. A fragment whose session ended sends the whole page to sign in."""
    principal = signed_in_principal(request)
    if principal is None:
        back = page_path(conversation_id)
        if from_htmx(request):
            redirect = {"HX-Redirect": f"/login?next={back}"}
            return status_line(request, msg("Sign in again."), 401, redirect)
        return to_login(request, back_to=back)
    if not principal.may(permission):
        return refusal(
            request, msg("Your role may not do this ({permission}).", permission=permission), 403
        )
    return principal


def audit_read(
    request: Request,
    principal: Principal,
    customer_id: int | None,
    via: str,
    shown: Sequence[Shown] = (),
) -> None:
    """Commit the ``customer.view`` entry of a read that showed the customer's data."""
    if customer_id is not None:
        entry = view_entry(principal, customer_id, via=via, shown=shown, ip=client_ip(request))
        commit_entry(get_database(), entry)


def tomorrow_morning(zone: ZoneInfo, now: datetime | None = None) -> datetime:
    """09:00 tomorrow in the site's time zone (the "tomorrow" snooze)."""
    local = (now or utcnow()).astimezone(zone)
    day = local.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, MORNING_HOUR, tzinfo=zone)


def summary_context(
    request: Request, session: Session, loaded: LoadedConversation
) -> dict[str, Any]:
    """What the head of the page shows and the actions the reader may take."""
    principal = loaded.principal
    facts = conversation_facts(session, loaded)
    may_reply = principal.may(Permission.DESK_REPLY)
    manager = principal.may(Permission.DESK_MANAGE)
    zone = ZoneInfo(request.app.state.settings.timezone)
    return {
        "facts": facts,
        "may_reply": may_reply,
        "may_manage": manager,
        "me": loaded.reach.user_id,
        "agents": assignable_agents(session, loaded) if manager else [],
        # Names and ids only: the rows do not outlive the session.
        "teams": [{"id": t.id, "name": t.name} for t in list_teams(session)] if manager else [],
        "macros": [{"id": m.id, "name": m.name} for m in list_macros(session)] if may_reply else [],
        "priorities": PRIORITIES,
        "ticket_types": TICKET_TYPES,
        "tomorrow": tomorrow_morning(zone),
    }


def thread_context(
    session: Session, loaded: LoadedConversation, show: int = THREAD_LENGTH
) -> dict[str, Any]:
    messages, older = latest_messages(session, loaded, show)
    return {
        "conversation_id": loaded.row.id,
        "messages": messages,
        "older": older,
        "show": show,
        # "Show earlier messages" asks for this many; past the most a page holds, the
        # rest are read through the API (paged).
        "show_more": show + THREAD_LENGTH if show + THREAD_LENGTH <= MAX_SHOWN else None,
        "attachments": {m.id: attachment_lines(m.attachments) for m in messages},
    }


def attachment_lines(attachments: list[Any]) -> list[dict[str, Any]]:
    """Name, type and size of each attachment, whichever keys its channel used, and the
    id of a file the desk stores (it downloads through ``/desk/attachments/{id}``)."""
    lines = []
    for item in attachments:
        if not isinstance(item, dict):
            continue
        name = item.get("name") or item.get("filename") or item.get("file_name")
        kind = item.get("type") or item.get("content_type") or item.get("mime_type")
        size = item.get("size") if isinstance(item.get("size"), int) else None
        stored = item.get("id") if isinstance(item.get("id"), int) else None
        lines.append(
            {"id": stored, "name": str(name or "—"), "type": str(kind or ""), "size": size}
        )
    return lines


def _loaded_or_refusal(
    request: Request, principal: Principal, conversation_id: int, session: Session
) -> LoadedConversation | Response:
    try:
        return load_conversation(session, principal, conversation_id)
    except NotFound as exc:
        return refusal(request, exc.text, 404)


Reads = Callable[[Session, LoadedConversation], dict[str, Any]]


def _show(
    request: Request, principal: Principal, conversation_id: int, template: str, reads: Reads
) -> Response:
    """``template`` with what ``reads`` gathers of the conversation (404 when the reader may
    not see it); the read is audited as a view of its customer, with what it showed."""
    with get_database().read() as session:
        loaded = _loaded_or_refusal(request, principal, conversation_id, session)
        if not isinstance(loaded, LoadedConversation):
            return loaded
        context = reads(session, loaded)
        customer_id = loaded.row.customer_id
    facts = context.get("facts")
    if facts:
        customer_id = facts.customer_id
    shown = facts.shown if facts else ()
    audit_read(request, principal, customer_id, "page.conversation", shown)
    return render(request, template, context)


@router.get("/desk/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(request: Request, conversation_id: ConversationId) -> Response:
    principal = gate(
        request,
        Permission.DESK_READ,
        "home.html",
        {"error": msg("Your role may not see the desk.")},
    )
    if not isinstance(principal, Principal):
        return principal
    return _show(
        request,
        principal,
        conversation_id,
        "desk_conversation.html",
        lambda session, loaded: (
            summary_context(request, session, loaded) | thread_context(session, loaded)
        ),
    )


@router.get("/desk/conversations/{conversation_id}/summary", response_class=HTMLResponse)
def summary_fragment(request: Request, conversation_id: ConversationId) -> Response:
    principal = desk_user(request, conversation_id, Permission.DESK_READ)
    if not isinstance(principal, Principal):
        return principal
    return _show(
        request,
        principal,
        conversation_id,
        "_conversation_summary.html",
        lambda session, loaded: summary_context(request, session, loaded),
    )


@router.get("/desk/conversations/{conversation_id}/thread", response_class=HTMLResponse)
def thread_fragment(
    request: Request,
    conversation_id: ConversationId,
    show: Annotated[int, Query(ge=1, le=MAX_SHOWN)] = THREAD_LENGTH,
) -> Response:
    principal = desk_user(request, conversation_id, Permission.DESK_READ)
    if not isinstance(principal, Principal):
        return principal
    return _show(
        request,
        principal,
        conversation_id,
        "_conversation_thread.html",
        lambda session, loaded: thread_context(session, loaded, show),
    )
