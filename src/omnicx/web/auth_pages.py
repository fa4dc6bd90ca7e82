"""Signing in and out of the UI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from omnicx.core.database import get_database
from omnicx.core.errors import Unauthenticated
from omnicx.governance.service import authenticate_user
from omnicx.web.pages import render
from omnicx.web.session import check_csrf

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/customers") -> HTMLResponse:
    return render(request, "login.html", {"next": next, "error": None})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=200)] = "/customers",
) -> Response:
    check_csrf(request, csrf)
    try:
        with get_database().read() as session:
            user = authenticate_user(session, email, password)
            request.session["user"] = {"id": user.id, "email": user.email, "role": user.role}
    except Unauthenticated as exc:
        return render(request, "login.html", {"next": next, "error": exc.message}, status=401)
    # Only local paths: never redirect a signed-in user to another site.
    target = next if next.startswith("/") and not next.startswith("//") else "/customers"
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
