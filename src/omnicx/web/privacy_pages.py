"""The privacy page (``privacy:manage``): requests with their deadlines, the suppression
list and retention runs; record a request, download an export, try retention dry.

It calls the same services as ``/api/v1/privacy``, behind the session instead of a token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput, OmniError
from omnicx.core.i18n import Message, msg
from omnicx.core.settings import get_settings
from omnicx.governance import privacy, retention, suppression
from omnicx.governance.api import client_ip
from omnicx.governance.permissions import Permission
from omnicx.governance.privacy_api import bundle_download
from omnicx.governance.service import Principal
from omnicx.web.pages import Csrf, gate, render
from omnicx.web.session import check_csrf

router = APIRouter(include_in_schema=False)
TEMPLATE = "admin_privacy.html"


def _gate(request: Request) -> Principal | Response:
    """The signed-in principal allowed to manage privacy, or the response turning them away."""
    return gate(request, Permission.PRIVACY_MANAGE, TEMPLATE)


def _customer_id(text: str) -> int | None:
    """The form's customer id: blank (an identifier is given instead), or 1..2**62 like
    ``/api/v1/privacy`` (a bigger number overflows the database's integer column)."""
    text = text.strip()
    if not text.isdigit():
        return None
    value = int(text)
    if not 1 <= value <= 2**62:
        raise InvalidInput(msg("no customer {text}", text=text), field="customer_id")
    return value


def _page(
    request: Request, *, error: Message | None = None, done: Message | None = None
) -> Response:
    settings = get_settings()
    with get_database().read() as session:
        requests = [
            {"r": r, "overdue": privacy.is_overdue(r), "result": privacy.result_of(r)}
            for r in privacy.list_requests(session, limit=100)
        ]
        context = {
            "requests": requests,
            "suppressions": suppression.list_suppressions(session, limit=50),
            "runs": [
                {"run": run, "report": retention.report_of(run)}
                for run in retention.recent_runs(session, 10)
            ],
            "policy": settings.retention,
            "interval": settings.retention_interval_hours,
            "error": error,
            "done": done,
        }
        return render(request, TEMPLATE, context, status=400 if error else 200)


@router.get("/admin/privacy", response_class=HTMLResponse)
def privacy_page(request: Request) -> Response:
    principal = _gate(request)
    if not isinstance(principal, Principal):
        return principal
    return _page(request)


@router.post("/admin/privacy/requests", response_class=HTMLResponse)
def record_request(
    request: Request,
    csrf: Csrf = "",
    kind: Annotated[str, Form()] = "",
    customer_id: Annotated[str, Form(max_length=20)] = "",
    identifier_type: Annotated[str, Form(max_length=40)] = "",
    identifier_value: Annotated[str, Form(max_length=500)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    principal = _gate(request)
    if not isinstance(principal, Principal):
        return principal
    check_csrf(request, csrf)
    if not reason.strip():
        return _page(request, error=msg("say why (no personal data: the reason is kept)"))
    database = get_database()
    try:
        with database.write() as session:
            row = privacy.open_request(
                session,
                kind,
                reason=reason.strip(),
                actor=principal,
                customer_id=_customer_id(customer_id),
                identifier=(identifier_type, identifier_value, "")
                if identifier_type and identifier_value
                else None,
            )
            request_id = row.id
        row = privacy.run_request(database, request_id, principal)
    except OmniError as exc:
        return _page(request, error=exc.text)
    return _page(request, done=msg("request {id}: {status}", id=row.id, status=row.status))


@router.get("/admin/privacy/requests/{request_id}/bundle")
def download_bundle(request: Request, request_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    principal = _gate(request)
    if not isinstance(principal, Principal):
        return principal
    try:
        with get_database().write() as session:
            row = privacy.get_request(session, request_id)
            bundle = privacy.deliver_export(session, row, principal, ip=client_ip(request))
    except OmniError as exc:
        return _page(request, error=exc.text)
    return bundle_download(request_id, bundle)


@router.post("/admin/privacy/retention", response_class=HTMLResponse)
def run_retention(
    request: Request,
    csrf: Csrf = "",
    dry_run: Annotated[bool, Form()] = True,
) -> Response:
    principal = _gate(request)
    if not isinstance(principal, Principal):
        return principal
    check_csrf(request, csrf)
    run = retention.run_retention(get_database(), get_settings(), principal, dry_run=dry_run)
    assert run is not None  # only the schedule skips
    return _page(
        request,
        done=(
            msg("retention run {id} (dry run)", id=run.id)
            if dry_run
            else msg("retention run {id}", id=run.id)
        ),
    )
