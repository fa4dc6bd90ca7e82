"""The consent part of the customer page: an HTML fragment the page loads with htmx.

``GET /customers/{id}/consent`` shows consent per purpose and channel, the history and,
for roles with ``consent:manage``, a form to record a decision the customer took; opened
at its own address (not by htmx) it is a whole page. ``POST`` records it (CSRF-checked,
audited) and answers with the fragment again (htmx) or a redirect back to the customer
page (a plain form post). An erased customer has no one left to decide: no form, and a
post is refused.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape

from omnicx.core.database import get_database
from omnicx.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from omnicx.core.i18n import Message, msg
from omnicx.customers.consent import consent_subject
from omnicx.governance.api import client_ip
from omnicx.governance.consent import (
    CHANNELS,
    EVERY_CHANNEL,
    NOTE_MAX,
    PURPOSES,
    ConsentSubject,
    change_consent,
    consent_grid,
    decisions_of,
)
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.web.errors import error_page
from omnicx.web.language import translate
from omnicx.web.pages import Csrf, CustomerId, render, to_login
from omnicx.web.session import check_csrf, signed_in_principal

router = APIRouter(include_in_schema=False)
HISTORY = 50


def _fragment(
    request: Request,
    principal: Principal,
    subject: ConsentSubject,
    requested_id: int,
    *,
    error: Message | None = None,
    status: int = 200,
) -> HTMLResponse:
    with get_database().read() as session:
        decisions = decisions_of(session, subject)
    whole_page = not _from_htmx(request)
    return render(
        request,
        "consent.html" if whole_page else "_consent.html",
        {
            "customer_id": subject.customer_id,
            "requested_id": requested_id,
            "grid": consent_grid(decisions),
            "history": list(reversed(decisions[-HISTORY:])),
            "purposes": PURPOSES,
            "channels": (EVERY_CHANNEL, *CHANNELS),
            "may_manage": principal.may(Permission.CONSENT_MANAGE) and not subject.erased,
            "erased": subject.erased,
            "note_max": NOTE_MAX,
            "error": error,
        },
        status=status,
    )


def _from_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _refusal(request: Request, message: Message, status: int) -> HTMLResponse:
    if not _from_htmx(request):
        return error_page(request, status, message)
    text = escape(translate(request, message))
    return HTMLResponse(f'<p class="error">{text}</p>', status_code=status)


def consent_subject_or_none(customer_id: int) -> ConsentSubject | None:
    try:
        with get_database().read() as session:
            return consent_subject(session, customer_id)
    except NotFound:
        return None


@router.get("/customers/{customer_id}/consent", response_class=HTMLResponse)
def consent_fragment(request: Request, customer_id: CustomerId) -> Response:
    principal = signed_in_principal(request)
    if principal is None:
        return to_login(request, back_to=f"/customers/{customer_id}")
    # Not ``gate``: a refusal here is a fragment swapped into the page, not a whole page.
    if not principal.may(Permission.CUSTOMERS_READ):
        return _refusal(request, msg("Your role does not see customers."), 403)
    subject = consent_subject_or_none(customer_id)
    if subject is None:
        return _refusal(request, msg("No customer {customer_id}.", customer_id=customer_id), 404)
    return _fragment(request, principal, subject, customer_id)


@router.post("/customers/{customer_id}/consent", response_class=HTMLResponse)
def record_consent(
    request: Request,
    customer_id: CustomerId,
    purpose: Annotated[str, Form(max_length=32)],
    channel: Annotated[str, Form(max_length=32)],
    granted: Annotated[Literal["yes", "no"], Form()],
    note: Annotated[str, Form(max_length=NOTE_MAX)] = "",
    csrf: Csrf = "",
) -> Response:
    principal = signed_in_principal(request)
    if principal is None:
        return to_login(request, back_to=f"/customers/{customer_id}")
    check_csrf(request, csrf)
    if not principal.may(Permission.CONSENT_MANAGE):
        raise Forbidden(msg("the {role} role may not record consent", role=principal.role))
    try:
        with get_database().write() as session:
            subject = consent_subject(session, customer_id)
            change_consent(
                session,
                principal,
                subject,
                purpose,
                channel,
                granted == "yes",
                note=note,
                source="ui",
                ip=client_ip(request),
            )
    except NotFound:
        return _refusal(request, msg("No customer {customer_id}.", customer_id=customer_id), 404)
    except (InvalidInput, Conflict) as exc:
        found = consent_subject_or_none(customer_id)
        if found is None:
            return _refusal(
                request, msg("No customer {customer_id}.", customer_id=customer_id), 404
            )
        return _fragment(
            request, principal, found, customer_id, error=exc.text, status=exc.status_code
        )
    if _from_htmx(request):
        return _fragment(request, principal, subject, customer_id)
    return RedirectResponse(f"/customers/{subject.customer_id}#consent", status_code=303)
