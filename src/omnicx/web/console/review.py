"""The console's review page, ``/review``: unmatched senders (with suggestions, link and
dismiss) and the CRM backfill queue (resolve with a note), for supervisors and admins
(``identity:review``); ``/review/badge`` is the count the navigation shows them.

Customers are shown through the access layer for the reader's role and each page view
is audited before it is answered; the forms carry the session's CSRF token and act
through the services the API calls (``desk.review``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from sqlalchemy.orm import Session

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput, OmniError
from omnicx.core.i18n import Message, msg
from omnicx.desk.review import backfill, unmatched
from omnicx.desk.review.alerts import open_counts
from omnicx.desk.review.views import backfill_out, unmatched_out
from omnicx.governance.api import client_ip
from omnicx.governance.audit import commit_entry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.web.language import translate
from omnicx.web.pages import Csrf, gate, render
from omnicx.web.session import check_csrf, signed_in_principal

router = APIRouter(include_in_schema=False)

TEMPLATE = "review.html"
ItemId = Annotated[int, Path(ge=1, le=2**62)]
Note = Annotated[str, Form(max_length=2000)]


def _gate(request: Request) -> Principal | Response:
    return gate(request, Permission.IDENTITY_REVIEW, TEMPLATE)


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request) -> Response:
    principal = _gate(request)
    if not isinstance(principal, Principal):
        return principal
    return _page(request, principal)


def _page(
    request: Request, principal: Principal, error: Message | str | None = None, status: int = 200
) -> HTMLResponse:
    database, ip = get_database(), client_ip(request)
    with database.read() as session:
        people, people_entry = unmatched_out(
            session, principal, unmatched.list_unmatched(session, "open"), ip
        )
        values, values_entry = backfill_out(
            session, principal, backfill.list_backfill(session, "open"), ip
        )
    commit_entry(database, people_entry)
    commit_entry(database, values_entry)
    context = {"unmatched": people, "backfill": values, "error": error}
    return render(request, TEMPLATE, context, status=status)


def _act(request: Request, csrf: str, action: Callable[[Session, Principal], Any]) -> Response:
    principal = _gate(request)
    if not isinstance(principal, Principal):
        return principal
    try:
        check_csrf(request, csrf)
        with get_database().write() as session:
            action(session, principal)
    except OmniError as exc:
        return _page(request, principal, exc.text, exc.status_code)
    return RedirectResponse("/review", status_code=303)


@router.post("/review/unmatched/{item_id}/link", response_class=HTMLResponse)
def link_on_page(
    request: Request,
    item_id: ItemId,
    customer_id: Annotated[str, Form(max_length=30)] = "",
    note: Note = "",
    csrf: Csrf = "",
) -> Response:
    def link(session: Session, principal: Principal) -> None:
        if not customer_id.strip().isdigit():
            raise InvalidInput(msg("customer_id: a customer number"), field="customer_id")
        unmatched.link_unmatched(session, principal, item_id, int(customer_id), note)

    return _act(request, csrf, link)


@router.post("/review/unmatched/{item_id}/dismiss", response_class=HTMLResponse)
def dismiss_on_page(
    request: Request, item_id: ItemId, note: Note = "", csrf: Csrf = ""
) -> Response:
    return _act(request, csrf, lambda s, p: unmatched.dismiss_unmatched(s, p, item_id, note))


@router.post("/review/backfill/{item_id}/resolve", response_class=HTMLResponse)
def resolve_on_page(
    request: Request, item_id: ItemId, note: Note = "", csrf: Csrf = ""
) -> Response:
    return _act(request, csrf, lambda s, p: backfill.resolve_backfill(s, p, item_id, note))


@router.get("/review/badge", response_class=HTMLResponse)
def review_badge(request: Request) -> Response:
    """The navigation's count of open items (empty when none, or for a role without the
    queues); 401 when the session has ended (the fragment is fetched by htmx)."""
    principal = signed_in_principal(request)
    if principal is None:
        return HTMLResponse("", status_code=401)
    if not principal.may(Permission.IDENTITY_REVIEW):
        return HTMLResponse("")
    with get_database().read() as session:
        counts = open_counts(session)
    total = counts["unmatched"] + counts["backfill"]
    if not total:
        return HTMLResponse("")
    title = translate(
        request,
        msg(
            "{unmatched} unmatched senders, {backfill} identifiers to backfill",
            unmatched=counts["unmatched"],
            backfill=counts["backfill"],
        ),
    )
    return HTMLResponse(f'<span class="badge review-count" title="{escape(title)}">{total}</span>')
