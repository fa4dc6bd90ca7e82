"""Signed session cookies for the UI, and the CSRF token every form carries.

The cookie is signed with ``OMNICX_SECRET_KEY`` (HttpOnly, SameSite=Lax, Secure outside
development). Each session holds a random CSRF token; every POST must echo it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import Request

from omnicx.core.database import get_database
from omnicx.core.errors import Forbidden
from omnicx.governance.service import Principal, active_account
from omnicx.governance.users import preferred_language


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not submitted or not hmac.compare_digest(str(expected), submitted):
        raise Forbidden(
            "the form expired or did not come from this site; reload and retry",
            code="csrf_failed",
        )


def signed_in_user(request: Request) -> dict[str, Any] | None:
    # The cookie outlives a role change or a disabled account, so the users table decides
    # (one primary-key read per request, remembered on the request).
    if hasattr(request.state, "signed_in_user"):
        return request.state.signed_in_user
    user = request.session.get("user")
    current = None
    if isinstance(user, dict):
        with get_database().read() as session:
            principal = active_account(session, int(user["id"]))
            language = preferred_language(session, int(user["id"])) if principal else None
        if principal is None:
            request.session.pop("user", None)
        else:
            current = {"id": principal.id, "email": principal.name, "role": principal.role}
            if language is not None:
                current["locale"] = language
            if current != user:
                request.session["user"] = current
    request.state.signed_in_user = current
    return current


def signed_in_principal(request: Request) -> Principal | None:
    """The signed-in person as a principal: what the access layer and the audit log use."""
    user = signed_in_user(request)
    if user is None:
        return None
    return Principal(kind="user", id=int(user["id"]), name=str(user["email"]), role=user["role"])
