"""``/api/v1/customers``: the 360 read, lookup by any identifier, timeline, reveal, CSV
export, unmerge. Every read is masked for the caller's role and audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput, check_text
from omnicx.core.i18n import msg
from omnicx.core.serialization import loads
from omnicx.customers import directory
from omnicx.customers.directory import Filters
from omnicx.customers.export import MAX_ROWS, csv_stream, open_export
from omnicx.customers.projection import split_customer
from omnicx.customers.schemas import (
    Customer360,
    CustomerPage,
    RevealOut,
    RevealRequest,
    TimelinePage,
    UnmergeRequest,
    UnmergeResult,
)
from omnicx.customers.service import (
    customer_360,
    customer_view_entry,
    reveal,
    timeline_page,
)
from omnicx.governance.access import view_entry, view_for
from omnicx.governance.api import client_ip, require
from omnicx.governance.audit import commit_entry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.identity.models import Identifier
from omnicx.identity.service import find_customer_by_identifier, identifier_hash

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])

Reader = Annotated[Principal, Depends(require(Permission.CUSTOMERS_READ))]
Revealer = Annotated[Principal, Depends(require(Permission.CUSTOMERS_REVEAL))]
Unmerger = Annotated[Principal, Depends(require(Permission.CUSTOMERS_UNMERGE))]
CustomerId = Annotated[
    int, Path(ge=1, le=2**62, description="Customer id (merged ids are followed)")
]


def _audited_360(
    principal: Principal,
    ip: str | None,
    via: str,
    read: Callable[[Session], Customer360],
) -> Customer360:
    """Run ``read`` in a read session, then commit its audit row: no record, no response.
    Concurrent reads share the audit transaction (group commit), each waiting for its own
    row to commit."""
    database = get_database()
    with database.read() as session:
        view = read(session)
    commit_entry(database, customer_view_entry(principal, view, via=via, ip=ip))
    return view


# The reads below are ``async def`` routes that run their blocking work in one worker
# thread: a plain ``def`` route with a response model costs a second thread hop, for
# validating the returned model, on every request.


@router.get(
    "",
    response_model=CustomerPage,
    summary="The customer list: newest activity first, or a search by identifier or name",
)
async def list_customers(
    principal: Reader,
    request: Request,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="An identifier (email, phone, user id…) or 2+ characters of a name",
        ),
    ] = None,
    channel: Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")] = None,
    seen_after: Annotated[datetime | None, Query(description="Last seen at or after")] = None,
    seen_before: Annotated[datetime | None, Query(description="Last seen before")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CustomerPage:
    if q is not None:
        check_text(q, "q")
    filters = Filters(channel=channel, seen_after=seen_after, seen_before=seen_before)

    def read() -> CustomerPage:
        database = get_database()
        with database.read() as session:
            page, entry = directory.list_customers(
                session,
                principal,
                q=q,
                filters=filters,
                cursor=cursor,
                limit=limit,
                ip=client_ip(request),
            )
        commit_entry(database, entry)
        return page

    return await run_in_threadpool(read)


@router.get("/lookup", response_model=Customer360, summary="Find a customer by any identifier")
async def lookup_customer(
    principal: Reader,
    request: Request,
    type: Annotated[
        str, Query(min_length=1, max_length=40, description="e.g. phone, email, user_id")
    ],
    value: Annotated[str, Query(min_length=1, max_length=500)],
    scope: Annotated[str, Query(max_length=100, description="WeChat app id for openids")] = "",
) -> Customer360:

    def read(session: Session) -> Customer360:
        customer_id = find_customer_by_identifier(session, type, value, scope)
        return customer_360(session, principal, customer_id)

    return await run_in_threadpool(_audited_360, principal, client_ip(request), "api.lookup", read)


@router.get(
    "/export.csv",
    summary="Customers as CSV, masked for your role",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_customers(
    principal: Reader,
    request: Request,
    ids: Annotated[
        str | None, Query(max_length=20_000, description="Comma-separated customer ids")
    ] = None,
    since: Annotated[datetime | None, Query(description="Seen at or after (ISO-8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 1000,
) -> StreamingResponse:
    database = get_database()
    view, chosen = open_export(
        database, principal, ids=ids, since=since, limit=limit, via="api", ip=client_ip(request)
    )
    return StreamingResponse(
        csv_stream(database, view, chosen),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="customers.csv"'},
    )


@router.get("/{customer_id}", response_model=Customer360, summary="The customer 360 view")
async def get_customer(principal: Reader, request: Request, customer_id: CustomerId) -> Customer360:
    def read(session: Session) -> Customer360:
        return customer_360(session, principal, customer_id)

    return await run_in_threadpool(_audited_360, principal, client_ip(request), "api.360", read)


@router.get(
    "/{customer_id}/timeline", response_model=TimelinePage, summary="Cross-channel timeline"
)
async def get_timeline(
    principal: Reader,
    request: Request,
    customer_id: CustomerId,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TimelinePage:
    return await run_in_threadpool(
        _audited_timeline, principal, client_ip(request), customer_id, limit, cursor
    )


def _audited_timeline(
    principal: Principal, ip: str | None, customer_id: int, limit: int, cursor: str | None
) -> TimelinePage:
    database = get_database()
    with database.read() as session:
        page = timeline_page(session, principal, customer_id, limit, cursor)
        # timeline_page masked with this same (cached) view; the audit says whether it did.
        plain = not view_for(session, principal).masks_text
    entry = view_entry(
        principal, page.customer_id, via="api.timeline", personal_in_plain=plain, ip=ip
    )
    commit_entry(database, entry)
    return page


@router.post(
    "/{customer_id}/reveal",
    response_model=RevealOut,
    summary="Show one masked field in plain, with a reason (audited)",
)
def reveal_field(
    principal: Revealer, request: Request, customer_id: CustomerId, body: RevealRequest
) -> RevealOut:
    with get_database().write() as session:
        found, value = reveal(
            session, principal, customer_id, body.field, body.reason, ip=client_ip(request)
        )
    return RevealOut(customer_id=found, field=body.field, value=value)


@router.post(
    "/{customer_id}/unmerge",
    response_model=UnmergeResult,
    summary="Split identifiers (or an earlier merge) off a customer",
)
def unmerge_customer(
    principal: Unmerger, customer_id: CustomerId, body: UnmergeRequest
) -> UnmergeResult:
    with get_database().write() as session:
        ids = list(body.identifier_ids)
        for ref in body.identifiers:
            _, _, key = identifier_hash(ref.type, ref.value, ref.scope)
            found = session.scalar(select(Identifier.id).where(Identifier.key_hash == key))
            if found is None:
                raise InvalidInput(
                    msg("no identifier {type} {value!r}", type=ref.type, value=ref.value),
                    field="identifiers",
                )
            ids.append(found)
        record = split_customer(
            session,
            customer_id,
            identifier_ids=ids,
            merge_id=body.merge_id,
            reason=body.reason,
            actor=principal,
        )
        return UnmergeResult(
            customer_id=record.customer_id,
            new_customer_ids=loads(record.new_customer_ids),
            split_identifier_ids=loads(record.identifier_ids),
        )
