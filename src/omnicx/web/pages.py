"""Server-rendered pages: home, the customer 360 view with reveal, and the analytics
overview (the customer list is ``customer_list``; the desk's pages are in ``console``).

Customer data is read through the same services as the API (``customers.service``),
for the signed-in user's role: masked values are computed on the server, so the page
never carries what the role may not see. Every 360 page view is audited.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import escape
from sqlalchemy import func, select

from omnicx import __version__
from omnicx.analytics.service import default_window, overview, pseudonymous_customers
from omnicx.core.database import get_database
from omnicx.core.errors import NotFound, OmniError
from omnicx.core.eventlog.models import EventRow
from omnicx.core.i18n import LANGUAGE_NAMES, Message, msg
from omnicx.core.serialization import dumps
from omnicx.customers.schemas import Customer360, RevealRequest
from omnicx.customers.service import customer_360, customer_view_entry, reveal
from omnicx.governance.api import client_ip
from omnicx.governance.audit import commit_entry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.identity.models import Customer
from omnicx.web.activity import call_sentence, event_sentence
from omnicx.web.labels import label_filter
from omnicx.web.language import (
    install_i18n,
    localize_context,
    remember_language,
    request_language,
    translate,
)
from omnicx.web.session import check_csrf, csrf_token, signed_in_principal, signed_in_user

templates = Jinja2Templates(directory=str(FilePath(__file__).parent / "templates"))
install_i18n(templates.env)
templates.env.filters["label"] = label_filter
templates.env.filters["event_sentence"] = event_sentence
templates.env.filters["call_sentence"] = call_sentence
router = APIRouter(include_in_schema=False)

# Form and path fields the page modules share (sizes bound what a post may carry).
Csrf = Annotated[str, Form(max_length=100)]
EmailField = Annotated[str, Form(max_length=254)]
PasswordField = Annotated[str, Form(max_length=1000)]
CustomerId = Annotated[int, Path(ge=1, le=2**62)]


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """``name`` rendered for the signed-in user in the request's language; ``Message``
    values in ``context`` are translated."""
    settings = request.app.state.settings
    principal = signed_in_principal(request)
    language = request_language(request)
    base = {
        "language": language,
        "languages": LANGUAGE_NAMES,
        "timezone": settings.timezone,
        "version": __version__,
        "user": signed_in_user(request),
        # What the signed-in user may do, for navigation (routes check again).
        "can": {p.value for p in Permission if principal and principal.may(p)},
        "csrf": csrf_token(request),
        "database": "SQLite"
        if settings.resolved_database_url.startswith("sqlite")
        else "PostgreSQL",
        "event_log": "NATS JetStream" if settings.uses_nats else msg("database table"),
    }
    page = templates.TemplateResponse(
        request, name, localize_context(language, base | context), status_code=status
    )
    remember_language(request, page)
    return page


def to_login(request: Request, back_to: str | None = None) -> RedirectResponse:
    """Send a visitor who is not signed in to the sign-in page, and back here (or to
    ``back_to``, when here is a fragment of another page) after."""
    return RedirectResponse(f"/login?next={back_to or request.url.path}", status_code=303)


def gate(
    request: Request,
    permission: Permission,
    template: str,
    refusal: dict[str, Any] | None = None,
) -> Principal | Response:
    """The signed-in principal, or the response that turns the visitor away: the sign-in
    page, or ``template`` saying which permission is missing (403), with ``refusal``
    added to its context."""
    principal = signed_in_principal(request)
    if principal is None:
        return to_login(request)
    if not principal.may(permission):
        context = {"forbidden": permission.value} | (refusal or {})
        return render(request, template, context, status=403)
    return principal


def _home_gate(request: Request, permission: Permission, what: Message) -> Principal | Response:
    """``gate`` for the desk pages: a refusal is the home page saying what is not allowed."""
    return gate(request, permission, "home.html", {"error": what})


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    if signed_in_user(request) is None:
        return render(request, "home.html", {})
    with get_database().read() as session:
        customers = session.scalar(
            select(func.count()).select_from(Customer).where(Customer.merged_into_id.is_(None))
        )
        events = session.scalar(select(func.count()).select_from(EventRow))
    return render(request, "home.html", {"customers": customers, "events": events})


def reveal_controls(principal: Principal, view: Customer360) -> dict[str, dict[str, Any]]:
    """Field → how it is shown and whether this user gets a reveal form for it."""
    may = principal.may(Permission.CUSTOMERS_REVEAL)
    return {
        f.field: {"display": f.display, "reveal": may and f.revealable and f.display != "plain"}
        for f in view.access.fields
    }


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, customer_id: CustomerId) -> Response:
    principal = _home_gate(
        request, Permission.CUSTOMERS_READ, msg("Your role may not see customers.")
    )
    if not isinstance(principal, Principal):
        return principal
    try:
        with get_database().read() as session:
            view = customer_360(session, principal, customer_id)
    except NotFound:
        # The list page, saying so (imported here: that module builds on this one).
        from omnicx.web.customer_list import TEMPLATE, list_context

        error = msg("no customer {customer_id}", customer_id=customer_id)
        return render(request, TEMPLATE, list_context(error=error), status=404)
    entry = customer_view_entry(principal, view, via="page.360", ip=client_ip(request))
    commit_entry(get_database(), entry)
    fields = reveal_controls(principal, view)
    hidden = [f for f in view.access.fields if f.display == "hidden"]
    return render(request, "customer.html", {"c": view, "fields": fields, "hidden": hidden})


def _fragment(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status)


@router.post("/customers/{customer_id}/reveal", response_class=HTMLResponse)
def reveal_on_page(
    request: Request,
    customer_id: CustomerId,
    field: Annotated[str, Form(max_length=200)],
    reason: Annotated[str, Form(max_length=500)] = "",
    csrf: Csrf = "",
) -> Response:
    """The htmx reveal control: answers the plain value as a fragment to swap in."""
    principal = signed_in_principal(request)
    if principal is None:
        again = translate(request, msg("Sign in again."))
        return _fragment(f'<span class="error">{escape(again)}</span>', 401)
    try:
        check_csrf(request, csrf)
        try:
            asked = RevealRequest(field=field, reason=reason)
        except ValueError:
            reason_needed = translate(request, msg("Give a reason (up to 500 characters)."))
            return _fragment(f'<span class="error">{escape(reason_needed)}</span>', 400)
        with get_database().write() as session:
            _, value = reveal(
                session, principal, customer_id, asked.field, asked.reason, ip=client_ip(request)
            )
    except OmniError as exc:
        text = translate(request, exc.text)
        return _fragment(f'<span class="error">{escape(text)}</span>', exc.status_code)
    text = value if isinstance(value, str) else dumps(value)
    return _fragment(f'<span class="revealed" data-field="{escape(field)}">{escape(text)}</span>')


@router.get("/analytics", response_class=HTMLResponse)
def analytics_page(request: Request, days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    principal = _home_gate(
        request, Permission.ANALYTICS_READ, msg("Your role may not see analytics.")
    )
    if not isinstance(principal, Principal):
        return principal
    since, until = default_window(days, None)
    with get_database().read() as session:
        summary = overview(session, since, until)
        customers = pseudonymous_customers(session, 50, None)
    return render(
        request, "analytics.html", {"o": summary, "customers": customers.items, "days": days}
    )
