"""Signed session cookies for the UI, and the CSRF token every form carries.

The cookie is signed with ``OMNICX_SECRET_KEY`` (HttpOnly, SameSite=Lax, Secure outside
development). Each session holds a random CSRF token; every POST must echo it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import Request

from omnicx.core.errors import Forbidden
from omnicx.governance.service import Principal


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
            "the form expired or did not come from this site; reload and retry", code="csrf_failed"
        )


def signed_in_user(request: Request) -> dict[str, Any] | None:
    user = request.session.get("user")
    return user if isinstance(user, dict) else None


def signed_in_principal(request: Request) -> Principal | None:
    """The signed-in person as a principal: what the access layer and the audit log use."""
    user = signed_in_user(request)
    if user is None:
        return None
    return Principal(kind="user", id=int(user["id"]), name=str(user["email"]), role=user["role"])
