"""``/api/v1/review``: the unmatched-sender and CRM-backfill queues.

Supervisors and admins (``identity:review``) read and act; agents get 403. Customer
names and identifier values are masked for the reader's role, and each list read is
audited (``customers.list``) before it is answered; each action is audited in its own
transaction.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from omnicx.core.database import get_database
from omnicx.desk.review import backfill, unmatched
from omnicx.desk.review.alerts import open_counts
from omnicx.desk.review.schemas import (
    BackfillOut,
    Counts,
    LinkRequest,
    NoteRequest,
    UnmatchedOut,
)
from omnicx.desk.review.views import backfill_out, unmatched_out
from omnicx.governance.api import client_ip, require
from omnicx.governance.audit import commit_entry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal

router = APIRouter(prefix="/api/v1/review", tags=["review"])

Reviewer = Annotated[Principal, Depends(require(Permission.IDENTITY_REVIEW))]
ItemId = Annotated[int, Path(ge=1, le=2**62)]
UnmatchedStatus = Literal["open", "linking", "linked", "dismissed", "all"]
BackfillStatus = Literal["open", "resolved", "all"]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/counts", response_model=Counts, summary="Open items in each review queue")
def counts(principal: Reviewer) -> Counts:
    with get_database().read() as session:
        return Counts(**open_counts(session))


@router.get(
    "/unmatched",
    response_model=list[UnmatchedOut],
    summary="Senders no customer had, with suggestions of who they may be",
)
def list_unmatched(
    principal: Reviewer, request: Request, status: UnmatchedStatus = "open", limit: Limit = 100
) -> list[UnmatchedOut]:
    database = get_database()
    with database.read() as session:
        items = unmatched.list_unmatched(session, None if status == "all" else status, limit)
        out, entry = unmatched_out(session, principal, items, client_ip(request))
    commit_entry(database, entry)
    return out


def _one_unmatched(principal: Principal, request: Request, item_id: int) -> UnmatchedOut:
    database = get_database()
    with database.read() as session:
        item = unmatched.get_unmatched(session, item_id)
        out, entry = unmatched_out(session, principal, [item], client_ip(request))
    commit_entry(database, entry)
    return out[0]


@router.get("/unmatched/{item_id}", response_model=UnmatchedOut, summary="One unmatched sender")
def get_unmatched(principal: Reviewer, request: Request, item_id: ItemId) -> UnmatchedOut:
    return _one_unmatched(principal, request, item_id)


@router.post(
    "/unmatched/{item_id}/link",
    response_model=UnmatchedOut,
    status_code=202,
    summary="Link the sender to an existing customer (or accept a suggestion)",
    description="Identity merges the two customers from the log; the item is `linking` "
    "until it has, then `linked`, and the conversation follows the merge.",
)
def link(principal: Reviewer, request: Request, item_id: ItemId, body: LinkRequest) -> UnmatchedOut:
    with get_database().write() as session:
        unmatched.link_unmatched(session, principal, item_id, body.customer_id, body.note)
    return _one_unmatched(principal, request, item_id)


@router.post(
    "/unmatched/{item_id}/dismiss",
    response_model=UnmatchedOut,
    summary="A genuinely new customer: close the item",
)
def dismiss(
    principal: Reviewer, request: Request, item_id: ItemId, body: NoteRequest
) -> UnmatchedOut:
    with get_database().write() as session:
        unmatched.dismiss_unmatched(session, principal, item_id, body.note)
    return _one_unmatched(principal, request, item_id)


@router.get(
    "/backfill",
    response_model=list[BackfillOut],
    summary="Identifiers the CRM is authoritative for but never sent",
)
def list_backfill(
    principal: Reviewer, request: Request, status: BackfillStatus = "open", limit: Limit = 100
) -> list[BackfillOut]:
    database = get_database()
    with database.read() as session:
        items = backfill.list_backfill(session, None if status == "all" else status, limit)
        out, entry = backfill_out(session, principal, items, client_ip(request))
    commit_entry(database, entry)
    return out


@router.post(
    "/backfill/{item_id}/resolve",
    response_model=BackfillOut,
    summary="Mark a backfill item resolved, saying how",
)
def resolve(
    principal: Reviewer, request: Request, item_id: ItemId, body: NoteRequest
) -> BackfillOut:
    database = get_database()
    with database.write() as session:
        item = backfill.resolve_backfill(session, principal, item_id, body.note)
        out, entry = backfill_out(session, principal, [item], client_ip(request))
    commit_entry(database, entry)
    return out[0]
