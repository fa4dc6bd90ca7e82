"""Server-rendered pages: home, find a customer, the customer 360 view.

Customer data is read through the same services as the API (``customers.service``).
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from omnicx import __version__
from omnicx.core.database import get_database
from omnicx.core.errors import NotFound, OmniError
from omnicx.core.eventlog.models import EventRow
from omnicx.customers.service import customer_360
from omnicx.identity.models import Customer
from omnicx.identity.service import find_customer_by_identifier
from omnicx.web.session import csrf_token, signed_in_user

templates = Jinja2Templates(directory=str(FilePath(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)

SEARCH_TYPES = ("phone", "email", "user_id", "wechat_openid", "anonymous_id", "device_id")


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    settings = request.app.state.settings
    base = {
        "version": __version__,
        "user": signed_in_user(request),
        "csrf": csrf_token(request),
        "database": "SQLite"
        if settings.resolved_database_url.startswith("sqlite")
        else "PostgreSQL",
        "event_log": "NATS JetStream" if settings.uses_nats else "database table",
    }
    return templates.TemplateResponse(request, name, base | context, status_code=status)


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


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


@router.get("/customers", response_class=HTMLResponse)
def find_customer(
    request: Request,
    type: Annotated[str, Query(max_length=40)] = "phone",
    value: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    if signed_in_user(request) is None:
        return _to_login(request)
    error = None
    if value.strip():
        try:
            with get_database().read() as session:
                customer_id = find_customer_by_identifier(session, type, value.strip())
            return RedirectResponse(f"/customers/{customer_id}", status_code=303)
        except OmniError as exc:
            error = exc.message
    return render(
        request,
        "search.html",
        {"types": SEARCH_TYPES, "type": type, "value": value, "error": error},
        status=404 if error and "no customer" in error else 200,
    )


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, customer_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    if signed_in_user(request) is None:
        return _to_login(request)
    try:
        with get_database().read() as session:
            view = customer_360(session, customer_id)
    except NotFound:
        return render(
            request,
            "search.html",
            {
                "types": SEARCH_TYPES,
                "type": "phone",
                "value": "",
                "error": f"no customer {customer_id}",
            },
            status=404,
        )
    return render(request, "customer.html", {"c": view})
