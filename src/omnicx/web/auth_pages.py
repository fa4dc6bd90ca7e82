"""Signing in (password, then the code of an authenticator app if the user has one) and out,
and the user's own account page where the second factor is turned on and off.

A sign-in attempt's outcome is committed whatever it is: the password is checked in a
read session (argon2 is slow, and must not hold the write lock), then the failure counter,
lockout and audit entry are written in a transaction of their own.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from omnicx.core.crypto import UndecryptableValue, decrypt_text, encrypt_text
from omnicx.core.database import get_database
from omnicx.core.i18n import Message, msg
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import totp, users
from omnicx.governance.api import client_ip
from omnicx.governance.login import SignIn, check_password, check_second_factor, record_sign_in
from omnicx.governance.service import Principal
from omnicx.web.pages import Csrf, EmailField, PasswordField, render, to_login
from omnicx.web.session import check_csrf, signed_in_principal

router = APIRouter(include_in_schema=False)

# How long the "password was right, now the code" step stays open.
SECOND_STEP_SECONDS = 300
# The not-yet-confirmed TOTP secret rides in the (signed, not encrypted) session cookie.
SETUP_PURPOSE = "session.totp_setup"

STATUS = {"refused": 401, "locked": 429, "disabled": 403, "needs_code": 200}

Code = Annotated[str, Form(max_length=20)]


def _local(target: str) -> str:
    # Only local paths: never redirect a signed-in user to another site.
    return target if target.startswith("/") and not target.startswith("//") else "/customers"


def _login_page(
    request: Request,
    next: str,
    *,
    step: str = "password",
    error: Message | None = None,
    status: int,
) -> HTMLResponse:
    return render(request, "login.html", {"next": next, "step": step, "error": error}, status)


def _answer(request: Request, result: SignIn, next: str) -> Response:
    if result.outcome == "signed_in" and result.user is not None:
        # A fresh session: nothing from before the sign-in carries over (session fixation).
        request.session.clear()
        user = result.user
        request.session["user"] = {"id": user.id, "email": user.name, "role": user.role}
        return RedirectResponse(_local(next), status_code=303)
    if result.outcome == "needs_code" and result.user is not None:
        request.session["second_step"] = {
            "user": result.user.id,
            "until": time.time() + SECOND_STEP_SECONDS,
            "next": _local(next),
        }
        return _login_page(request, next, step="code", status=200)
    request.session.pop("second_step", None)
    step = "password"
    page = _login_page(
        request, next, step=step, error=result.message, status=STATUS[result.outcome]
    )
    if result.outcome == "locked" and result.retry_at is not None:
        wait = max(1, int((as_utc(result.retry_at) - utcnow()).total_seconds()))
        page.headers["Retry-After"] = str(wait)
    return page


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/customers") -> HTMLResponse:
    request.session.pop("second_step", None)
    return _login_page(request, next, status=200)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    email: EmailField,
    password: PasswordField,
    csrf: Csrf = "",
    next: Annotated[str, Form(max_length=200)] = "/customers",
) -> Response:
    check_csrf(request, csrf)
    database = get_database()
    with database.read() as session:
        checked = check_password(session, email, password)
    with database.write() as session:
        result = record_sign_in(session, checked, client_ip(request))
    return _answer(request, result, next)


@router.post("/login/code", response_class=HTMLResponse)
def login_code(request: Request, code: Code, csrf: Csrf = "") -> Response:
    check_csrf(request, csrf)
    pending = request.session.get("second_step")
    if not isinstance(pending, dict) or float(pending.get("until", 0)) < time.time():
        request.session.pop("second_step", None)
        error = msg("the sign-in took too long; enter your email and password again")
        return _login_page(request, "/customers", error=error, status=401)
    next = str(pending.get("next", "/customers"))
    with get_database().write() as session:
        result = check_second_factor(session, int(pending["user"]), code, client_ip(request))
    if result.outcome == "refused":
        # Stay on the code step: the counter has the failure, the lockout ends the step.
        error = msg("the code is wrong or has expired; enter the current one")
        return _login_page(request, next, step="code", error=error, status=401)
    return _answer(request, result, next)


@router.post("/logout")
def logout(request: Request, csrf: Csrf = "") -> Response:
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# -- the user's own account ----------------------------------------------------------------


def _account_page(
    request: Request, principal: Principal, *, error: Message | None = None, status: int = 200
) -> HTMLResponse:
    with get_database().read() as session:
        user = users.get_user(session, principal.id)
        context: dict[str, Any] = {
            "account": user,
            "second_factor": user.totp_secret is not None,
            "chosen_language": user.locale,
            "last_login": as_utc(user.last_login_at) if user.last_login_at else None,
            "error": error,
            "done": request.query_params.get("done"),
        }
        session.expunge(user)  # the template reads it after the session ends
    secret = _setup_secret(request)
    if secret is not None and not context["second_factor"]:
        uri = totp.provisioning_uri(secret, principal.name)
        grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
        context |= {"setup": {"secret": grouped, "uri": uri, "qr": totp.qr_svg(uri)}}
    return render(request, "account.html", context, status)


def _setup_secret(request: Request) -> str | None:
    sealed = request.session.get("totp_setup")
    if not isinstance(sealed, str):
        return None
    try:
        return decrypt_text(sealed, SETUP_PURPOSE)
    except UndecryptableValue:  # the keys rotated meanwhile: start the setup again
        request.session.pop("totp_setup", None)
        return None


def _account_holder(request: Request, csrf: str | None = None) -> Principal | Response:
    """The signed-in user, or the sign-in page. A form post's CSRF token (``csrf``) is
    checked first, whoever sends it."""
    if csrf is not None:
        check_csrf(request, csrf)
    principal = signed_in_principal(request)
    return to_login(request) if principal is None else principal


@router.get("/account", response_class=HTMLResponse)
def account(request: Request) -> Response:
    principal = _account_holder(request)
    if not isinstance(principal, Principal):
        return principal
    return _account_page(request, principal)


@router.post("/account/totp/setup", response_class=HTMLResponse)
def totp_setup(request: Request, csrf: Csrf = "") -> Response:
    principal = _account_holder(request, csrf)
    if not isinstance(principal, Principal):
        return principal
    request.session["totp_setup"] = encrypt_text(totp.new_secret(), SETUP_PURPOSE)
    return RedirectResponse("/account", status_code=303)


@router.post("/account/totp/confirm", response_class=HTMLResponse)
def totp_confirm(request: Request, code: Code, csrf: Csrf = "") -> Response:
    principal = _account_holder(request, csrf)
    if not isinstance(principal, Principal):
        return principal
    secret = _setup_secret(request)
    if secret is None:
        return _account_page(request, principal, error=msg("start the setup again"), status=400)
    with get_database().write() as session:
        enabled = users.enable_totp(session, principal.id, secret, code, client_ip(request))
    if not enabled:
        error = msg("that code does not match; check the phone's clock and enter the current code")
        return _account_page(request, principal, error=error, status=400)
    request.session.pop("totp_setup", None)
    return RedirectResponse("/account?done=totp_on", status_code=303)


@router.post("/account/totp/disable", response_class=HTMLResponse)
def totp_disable(request: Request, code: Code, csrf: Csrf = "") -> Response:
    principal = _account_holder(request, csrf)
    if not isinstance(principal, Principal):
        return principal
    with get_database().write() as session:
        disabled = users.disable_totp(session, principal.id, code, client_ip(request))
    if not disabled:
        return _account_page(request, principal, error=msg("that code does not match"), status=400)
    return RedirectResponse("/account?done=totp_off", status_code=303)


@router.post("/account/language")
def choose_language(
    request: Request,
    language: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form(max_length=200)] = "/account",
    csrf: Csrf = "",
) -> Response:
    """Remember the language the UI speaks to this user ("" hands it back to the browser's
    Accept-Language), then go back to the page the switch was on."""
    principal = _account_holder(request, csrf)
    if not isinstance(principal, Principal):
        return principal
    with get_database().write() as session:
        users.set_language(session, principal.id, language or None)
    return RedirectResponse(_local(next), status_code=303)
