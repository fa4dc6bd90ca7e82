"""The customer list page, ``/customers``: the directory (``customers.directory``) with
its filters and keyset paging, and one search box that takes an identifier or a name.

An identifier that someone holds opens that customer's 360 page, as the lookup always
did (and ``?type=phone&value=…`` addresses still do); anything else is a name search.
Rows are masked for the reader's role and the list read is audited before it is shown
(``customers.list``), both by the directory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput, NotFound, OmniError, check_text
from omnicx.core.i18n import msg
from omnicx.core.time import as_utc
from omnicx.customers import directory
from omnicx.customers.directory import Filters
from omnicx.governance.api import client_ip
from omnicx.governance.audit import commit_entry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.identity.service import find_customer_by_identifier
from omnicx.web.labels import LABELS
from omnicx.web.pages import gate, render

router = APIRouter(include_in_schema=False)

TEMPLATE = "customers.html"
PAGE_SIZE = 25
FIELDS = ("q", "channel", "seen_after", "seen_before")
CHANNELS = tuple(c for c in LABELS["channel"] if c != "*")
CHANNEL_NAME = "abcdefghijklmnopqrstuvwxyz0123456789_.-"


def list_context(f: dict[str, str] | None = None, **more: Any) -> dict[str, Any]:
    """What the list template needs, empty unless given (the 360 page's "not found" too)."""
    empty: dict[str, Any] = {
        "customers": [],
        "error": None,
        "searching": False,
        "first": None,
        "next": None,
    }
    return {"f": f or {}, "channels": CHANNELS} | empty | more


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request) -> Response:
    principal = gate(
        request,
        Permission.CUSTOMERS_READ,
        "home.html",
        {"error": msg("Your role may not look customers up.")},
    )
    if not isinstance(principal, Principal):
        return principal
    params = request.query_params
    if params.get("value", "").strip():
        return _lookup(request, params.get("type", "phone")[:40], params["value"][:500].strip())
    f = {k: params.get(k, "")[:200] for k in FIELDS}
    cursor = params.get("cursor", "")[:200] or None
    try:
        return _list(request, principal, f, cursor)
    except OmniError as exc:
        return render(request, TEMPLATE, list_context(f, error=exc.text), status=exc.status_code)


def _lookup(request: Request, kind: str, value: str) -> Response:
    """The lookup by one identifier of a named type: the 360 page, or why not."""
    try:
        with get_database().read() as session:
            customer_id = find_customer_by_identifier(session, kind, value)
    except OmniError as exc:
        context = list_context({"q": value}, error=exc.text)
        return render(request, TEMPLATE, context, status=404 if isinstance(exc, NotFound) else 400)
    return RedirectResponse(f"/customers/{customer_id}", status_code=303)


def _list(
    request: Request, principal: Principal, f: dict[str, str], cursor: str | None
) -> Response:
    q = f["q"].strip()
    check_text(q, "q")
    filters = _filters(f, ZoneInfo(request.app.state.settings.timezone))
    database = get_database()
    with database.read() as session:
        if q and cursor is None:
            held = directory.customers_with_identifier(session, q)
            if len(held) == 1:
                return RedirectResponse(f"/customers/{held[0]}", status_code=303)
        page, entry = directory.list_customers(
            session,
            principal,
            q=q or None,
            filters=filters,
            cursor=cursor,
            limit=PAGE_SIZE,
            ip=client_ip(request),
        )
    commit_entry(database, entry)
    query = {k: v for k, v in f.items() if v}
    context = list_context(
        f,
        customers=page.items,
        searching=bool(q),
        first=query if cursor else None,
        next=query | {"cursor": page.next_cursor} if page.next_cursor else None,
    )
    return render(request, TEMPLATE, context)


def _filters(f: dict[str, str], zone: ZoneInfo) -> Filters:
    """The directory's filters from the form; dates and times are the site's. Raises
    InvalidInput."""
    channel = f["channel"].strip().lower()
    if channel and not set(channel) <= set(CHANNEL_NAME):
        raise InvalidInput(msg("no channel is called {name}", name=channel), field="channel")
    return Filters(
        channel=channel or None,
        seen_after=_moment(f["seen_after"], "seen_after", zone),
        seen_before=_moment(f["seen_before"], "seen_before", zone),
    )


def _moment(text: str, name: str, zone: ZoneInfo) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            msg("{name}: not a date (use 2026-05-01 or 2026-05-01T08:00)", name=name), field=name
        ) from exc
    return as_utc(moment if moment.tzinfo else moment.replace(tzinfo=zone))
