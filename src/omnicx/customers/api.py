"""``/api/v1/customers``: the 360 read, lookup by any identifier, timeline, unmerge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput
from omnicx.core.serialization import loads
from omnicx.customers.projection import split_customer
from omnicx.customers.schemas import Customer360, TimelinePage, UnmergeRequest, UnmergeResult
from omnicx.customers.service import customer_360, timeline_page
from omnicx.governance.api import require
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal
from omnicx.identity.models import Identifier
from omnicx.identity.service import find_customer_by_identifier, identifier_hash

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])

Reader = Annotated[Principal, Depends(require(Permission.CUSTOMERS_READ))]
Unmerger = Annotated[Principal, Depends(require(Permission.CUSTOMERS_UNMERGE))]
CustomerId = Annotated[
    int, Path(ge=1, le=2**62, description="Customer id (merged ids are followed)")
]


@router.get("/lookup", response_model=Customer360, summary="Find a customer by any identifier")
def lookup_customer(
    principal: Reader,
    type: Annotated[
        str, Query(min_length=1, max_length=40, description="e.g. phone, email, user_id")
    ],
    value: Annotated[str, Query(min_length=1, max_length=500)],
    scope: Annotated[str, Query(max_length=100, description="WeChat app id for openids")] = "",
) -> Customer360:
    with get_database().read() as session:
        customer_id = find_customer_by_identifier(session, type, value, scope)
        return customer_360(session, customer_id)


@router.get("/{customer_id}", response_model=Customer360, summary="The customer 360 view")
def get_customer(principal: Reader, customer_id: CustomerId) -> Customer360:
    with get_database().read() as session:
        return customer_360(session, customer_id)


@router.get(
    "/{customer_id}/timeline", response_model=TimelinePage, summary="Cross-channel timeline"
)
def get_timeline(
    principal: Reader,
    customer_id: CustomerId,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TimelinePage:
    with get_database().read() as session:
        return timeline_page(session, customer_id, limit, cursor)


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
                raise InvalidInput(f"no identifier {ref.type} {ref.value!r}", field="identifiers")
            ids.append(found)
        record = split_customer(
            session,
            customer_id,
            identifier_ids=ids,
            merge_id=body.merge_id,
            reason=body.reason,
            actor=principal.actor,
        )
        return UnmergeResult(
            customer_id=record.customer_id,
            new_customer_ids=loads(record.new_customer_ids),
            split_identifier_ids=loads(record.identifier_ids),
        )
