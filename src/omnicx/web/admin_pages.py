"""Administration pages: the audit log (audit:read) and users (admin:manage).

They call the same services as ``/api/v1/audit`` and ``/api/v1/admin``; the CSV export is
the API's, behind the session instead of a token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from omnicx.core.database import get_database
from omnicx.core.errors import OmniError
from omnicx.core.i18n import Message, msg
from omnicx.core.time import as_utc, parse_timestamp, utcnow
from omnicx.governance import audit, users
from omnicx.governance.api import client_ip
from omnicx.governance.audit_api import MAX_PAGE, export_csv
from omnicx.governance.models import ROLES, User
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.web.pages import Csrf, EmailField, PasswordField, gate, render
from omnicx.web.session import check_csrf

router = APIRouter(include_in_schema=False)

FILTER_FIELDS = ("actor", "action", "target_type", "target_id", "since", "until")
AUDIT_TEMPLATE = "admin_audit.html"
AUDIT_PAGE = 50  # entries per page: a screenful or two, not 10,000 pixels
USERS_TEMPLATE = "admin_users.html"
Role = Annotated[str, Form(max_length=32)]


def _filter_from(params: dict[str, str]) -> tuple[audit.AuditFilter, Message | None]:
    """The search filter from the form; a bad date comes back as an error message."""
    times = {}
    for name in ("since", "until"):
        text = params.get(name, "").strip()
        try:
            times[name] = parse_timestamp(text) if text else None
        except ValueError:
            return audit.AuditFilter(), msg(
                "{name}: not a date (use 2026-05-01 or 2026-05-01T08:00)", name=name
            )
    try:
        where = audit.AuditFilter(
            actor=params.get("actor") or None,
            action=params.get("action") or None,
            target_type=params.get("target_type") or None,
            target_id=params.get("target_id") or None,
            since=times["since"],
            until=times["until"],
        )
    except OmniError as exc:
        return audit.AuditFilter(), exc.text
    return where, None


def _form_values(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "")[:200] for k in FILTER_FIELDS}


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    after_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = AUDIT_PAGE,
    verify: bool = False,
) -> Response:
    principal = gate(request, Permission.AUDIT_READ, AUDIT_TEMPLATE)
    if not isinstance(principal, Principal):
        return principal
    values = _form_values(request)
    where, error = _filter_from(values)
    context: dict[str, Any] = {"f": values, "error": error, "entries": [], "report": None}
    with get_database().read() as session:
        if error is None:
            entries = audit.search(session, where, limit, before_id, after_id)
            context["entries"] = [(e, as_utc(e.at), audit.readable_detail(e)) for e in entries]
            query = {k: v for k, v in values.items() if v}
            context["query"] = query
            if entries:
                paging = query | ({"limit": limit} if limit != AUDIT_PAGE else {})
                newest, oldest = entries[0].id, entries[-1].id
                if audit.search(session, where, 1, before_id=oldest):
                    context["older"] = paging | {"before_id": oldest}
                if audit.search(session, where, 1, after_id=newest):
                    context["newer"] = paging | {"after_id": newest}
        if verify:
            context["report"] = audit.verify(session)
        session.expunge_all()
    return render(request, AUDIT_TEMPLATE, context, status=400 if error else 200)


@router.get("/admin/audit/export.csv")
def audit_export(request: Request) -> Response:
    principal = gate(request, Permission.AUDIT_READ, AUDIT_TEMPLATE)
    if not isinstance(principal, Principal):
        return principal
    where, error = _filter_from(_form_values(request))
    if error is not None:
        return RedirectResponse("/admin/audit", status_code=303)
    return export_csv(principal, where, client_ip(request))


def _user_row(user: User, now: datetime) -> dict[str, Any]:
    locked = as_utc(user.locked_until) if user.locked_until else None
    return {
        "u": user,
        "last_login": as_utc(user.last_login_at) if user.last_login_at else None,
        "locked_until": locked if locked and locked > now else None,
    }


def _users_page(
    request: Request,
    *,
    error: Message | None = None,
    created: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    now = utcnow()
    with get_database().read() as session:
        people = [_user_row(u, now) for u in users.list_users(session)]
        session.expunge_all()  # the template reads them after the session ends
    context = {
        "people": people,
        "roles": ROLES,
        "error": error,
        "created": created,
        "done": request.query_params.get("done"),
    }
    return render(request, USERS_TEMPLATE, context, status)


def _admin(request: Request, csrf: str | None = None) -> Principal | Response:
    """The signed-in admin, or the response that turns the visitor away. A form post's
    CSRF token (``csrf``) is checked first, whoever sends it."""
    if csrf is not None:
        check_csrf(request, csrf)
    return gate(request, Permission.ADMIN, USERS_TEMPLATE)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request) -> Response:
    principal = _admin(request)
    return principal if not isinstance(principal, Principal) else _users_page(request)


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    email: EmailField,
    display_name: Annotated[str, Form(max_length=200)],
    role: Role,
    password: PasswordField = "",
    csrf: Csrf = "",
) -> Response:
    principal = _admin(request, csrf)
    if not isinstance(principal, Principal):
        return principal
    try:
        with get_database().write() as session:
            user, generated = users.create_user(
                session,
                principal,
                email=email,
                display_name=display_name,
                role=role,
                password=password or None,
                ip=client_ip(request),
            )
            created = {"email": user.email, "password": generated or ""}
    except OmniError as exc:
        return _users_page(request, error=exc.text, status=exc.status_code)
    return _users_page(request, created=created, status=201)


ACTIONS = ("role", "disable", "enable", "totp_reset")


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
def change_user(
    request: Request,
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    action: Annotated[str, Form(max_length=20)],
    role: Role = "",
    csrf: Csrf = "",
) -> Response:
    principal = _admin(request, csrf)
    if not isinstance(principal, Principal):
        return principal
    if action not in ACTIONS:
        return _users_page(
            request, error=msg("unknown action {action!r}", action=action), status=400
        )
    ip = client_ip(request)
    try:
        with get_database().write() as session:
            if action == "role":
                users.update_user(session, principal, user_id, role=role, ip=ip)
            elif action == "totp_reset":
                users.reset_totp(session, principal, user_id, ip)
            else:
                users.update_user(session, principal, user_id, disabled=action == "disable", ip=ip)
    except OmniError as exc:
        return _users_page(request, error=exc.text, status=exc.status_code)
    return RedirectResponse(f"/admin/users?done={action}", status_code=303)
