"""``/api/v1/tickets`` and ``/api/v1/conversations/{id}/tickets``: the desk's tickets.

Every route loads a ticket through ``access.load_ticket`` (row-level access: not visible
is 404) and a linked conversation through the desk's ``load_conversation``; reads that
show the customer are audited like the 360 view.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput
from omnicx.desk.access import load_conversation, reach_of
from omnicx.desk.tickets import service
from omnicx.desk.tickets.access import load_ticket
from omnicx.desk.tickets.detail import ticket_detail
from omnicx.desk.tickets.listing import TicketFilters, list_tickets
from omnicx.desk.tickets.schemas import (
    CommentIn,
    FromConversationIn,
    LinkIn,
    Priority,
    Status,
    TicketDetail,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketPatch,
    TicketType,
)
from omnicx.governance.access import view_entry
from omnicx.governance.api import client_ip, require
from omnicx.governance.audit import commit_entry
from omnicx.governance.permissions import Permission
from omnicx.governance.service import Principal, acting_user_id

router = APIRouter(prefix="/api/v1", tags=["desk"])

Reader = Annotated[Principal, Depends(require(Permission.DESK_READ))]
Replier = Annotated[Principal, Depends(require(Permission.DESK_REPLY))]
TicketId = Annotated[int, Path(ge=1, le=2**62)]
ConversationId = Annotated[int, Path(ge=1, le=2**62)]


def _answer(principal: Principal, request: Request, ticket_id: int) -> TicketDetail:
    """The ticket as the caller sees it; showing its customer is an audited read."""
    database = get_database()
    with database.read() as session:
        detail = ticket_detail(session, load_ticket(session, principal, ticket_id))
    if detail.customer_id is not None:
        entry = view_entry(principal, detail.customer_id, via="desk.ticket", ip=client_ip(request))
        commit_entry(database, entry)
    return detail


@router.get("/tickets", response_model=TicketPage, summary="Tickets you may see, newest first")
def get_tickets(
    principal: Reader,
    view: Literal["mine", "team", "all"] = "all",
    status: Status | None = None,
    type: TicketType | None = None,
    priority: Priority | None = None,
    team: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**62, description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketPage:
    filters = TicketFilters(
        view=view,
        status=status,
        type=type,
        priority=priority,
        team_id=team,
        customer_ids=None if customer_id is None else [customer_id],
    )
    with get_database().read() as session:
        rows, next_cursor = list_tickets(
            session,
            reach_of(session, principal),
            filters,
            cursor=None if cursor is None else str(cursor),
            limit=limit,
        )
        return TicketPage(items=[TicketOut.of(r) for r in rows], next_cursor=next_cursor)


@router.post("/tickets", response_model=TicketDetail, status_code=201, summary="Open a ticket")
def create_ticket(principal: Replier, request: Request, body: TicketIn) -> TicketDetail:
    with get_database().write() as session:
        ticket = service.create_ticket(
            session,
            principal,
            acting_user_id(session, principal),
            title=body.title,
            type=body.type,
            priority=body.priority,
            customer_id=body.customer_id,
            team_id=body.team_id,
            owner_id=body.owner_id,
        )
        ticket_id = ticket.id
    return _answer(principal, request, ticket_id)


@router.post(
    "/conversations/{conversation_id}/tickets",
    response_model=TicketDetail,
    status_code=201,
    summary="Open a ticket from a conversation (its customer and team, linked)",
)
def create_from_conversation(
    principal: Replier, request: Request, conversation_id: ConversationId, body: FromConversationIn
) -> TicketDetail:
    with get_database().write() as session:
        conversation = load_conversation(session, principal, conversation_id)
        ticket = service.create_ticket(
            session,
            principal,
            acting_user_id(session, principal),
            title=body.title,
            type=body.type,
            priority=body.priority,
            conversation=conversation,
        )
        ticket_id = ticket.id
    return _answer(principal, request, ticket_id)


@router.get("/tickets/{ticket_id}", response_model=TicketDetail, summary="A ticket")
def get_ticket(principal: Reader, request: Request, ticket_id: TicketId) -> TicketDetail:
    return _answer(principal, request, ticket_id)


@router.patch("/tickets/{ticket_id}", response_model=TicketDetail, summary="Change a ticket")
def patch_ticket(
    principal: Replier, request: Request, ticket_id: TicketId, body: TicketPatch
) -> TicketDetail:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change", field="body")
    with get_database().write() as session:
        service.update_ticket(
            session, load_ticket(session, principal, ticket_id, for_update=True), changes
        )
    return _answer(principal, request, ticket_id)


@router.post(
    "/tickets/{ticket_id}/comments",
    response_model=TicketDetail,
    status_code=201,
    summary="Add an internal comment",
)
def post_comment(
    principal: Replier, request: Request, ticket_id: TicketId, body: CommentIn
) -> TicketDetail:
    with get_database().write() as session:
        service.add_comment(
            session, load_ticket(session, principal, ticket_id, for_update=True), body.text
        )
    return _answer(principal, request, ticket_id)


@router.post(
    "/tickets/{ticket_id}/conversations",
    response_model=TicketDetail,
    summary="Link a conversation you may see",
)
def link_conversation(
    principal: Replier, request: Request, ticket_id: TicketId, body: LinkIn
) -> TicketDetail:
    with get_database().write() as session:
        loaded = load_ticket(session, principal, ticket_id, for_update=True)
        conversation = load_conversation(session, principal, body.conversation_id)
        service.link_conversation(session, loaded, conversation)
    return _answer(principal, request, ticket_id)
