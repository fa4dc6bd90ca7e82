"""``/api/v1/tickets`` and ``/api/v1/conversations/{id}/tickets``: the desk's tickets.

Every route loads a ticket through ``access.load_ticket`` (row-level access: not visible
is 404) and a linked conversation through the desk's ``load_conversation``; reads that
show the customer are audited like the 360 view.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.database import get_database
from omnicx.core.errors import InvalidInput
from omnicx.core.serialization import loads
from omnicx.desk.access import load_conversation, reach_of
from omnicx.desk.tickets import service
from omnicx.desk.tickets.access import LoadedTicket, load_ticket, visible
from omnicx.desk.tickets.models import (
    Ticket,
    TicketChange,
    TicketComment,
    TicketConversation,
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
TicketType = Literal["inquiry", "complaint", "after_sales", "invoice", "repair", "other"]
Priority = Literal["low", "normal", "high", "urgent"]
Status = Literal["new", "open", "pending", "resolved", "closed"]


class TicketIn(BaseModel):
    title: str = Field(max_length=200, examples=["空调漏水，需上门维修"])
    type: TicketType = "inquiry"
    priority: Priority = "normal"
    customer_id: int | None = Field(None, ge=1, le=2**62)
    team_id: int | None = Field(None, ge=1, le=2**31 - 1)
    owner_id: int | None = Field(None, ge=1, le=2**31 - 1)


class FromConversationIn(BaseModel):
    title: str = Field(max_length=200)
    type: TicketType = "inquiry"
    priority: Priority = "normal"


class TicketPatch(BaseModel):
    title: str | None = Field(None, max_length=200)
    type: TicketType | None = None
    priority: Priority | None = None
    status: Status | None = None
    owner_id: int | None = Field(None, ge=1, le=2**31 - 1)
    team_id: int | None = Field(None, ge=1, le=2**31 - 1)


class CommentIn(BaseModel):
    text: str = Field(max_length=10_000, examples=["已联系师傅，明天上午上门"])


class LinkIn(BaseModel):
    conversation_id: int = Field(ge=1, le=2**62)


class TicketOut(BaseModel):
    id: int
    title: str
    type: str
    priority: str
    status: str
    customer_id: int | None
    team_id: int | None
    owner_id: int | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, row: Ticket) -> TicketOut:
        return cls.model_validate({name: getattr(row, name) for name in cls.model_fields})


class CommentOut(BaseModel):
    id: int
    author_user_id: int | None
    text: str
    created_at: datetime


class ChangeOut(BaseModel):
    actor: str
    action: str
    detail: dict[str, Any]
    created_at: datetime


class TicketDetail(TicketOut):
    customer: dict[str, Any]
    conversation_ids: list[int]
    comments: list[CommentOut]
    history: list[ChangeOut]


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None = None


def _detail(session: Session, loaded: LoadedTicket) -> TicketDetail:
    ticket = loaded.row
    links = session.scalars(
        select(TicketConversation.conversation_id)
        .where(TicketConversation.ticket_id == ticket.id)
        .order_by(TicketConversation.linked_at)
    )
    comments = session.scalars(
        select(TicketComment).where(TicketComment.ticket_id == ticket.id).order_by(TicketComment.id)
    )
    history = session.scalars(
        select(TicketChange).where(TicketChange.ticket_id == ticket.id).order_by(TicketChange.id)
    )
    return TicketDetail(
        **TicketOut.of(ticket).model_dump(),
        customer=loaded.customer(session),
        conversation_ids=list(links),
        # Comments are free text written by agents: masked for the reader like messages.
        comments=[
            CommentOut(
                id=c.id,
                author_user_id=c.author_user_id,
                text=loaded.view.text(c.text),
                created_at=c.created_at,
            )
            for c in comments
        ],
        history=[
            ChangeOut(
                actor=h.actor, action=h.action, detail=loads(h.detail), created_at=h.created_at
            )
            for h in history
        ],
    )


def _answer(principal: Principal, request: Request, ticket_id: int) -> TicketDetail:
    """The ticket as the caller sees it; showing its customer is an audited read."""
    database = get_database()
    with database.read() as session:
        detail = _detail(session, load_ticket(session, principal, ticket_id))
    if detail.customer_id is not None:
        entry = view_entry(principal, detail.customer_id, via="desk.ticket", ip=client_ip(request))
        commit_entry(database, entry)
    return detail


@router.get("/tickets", response_model=TicketPage, summary="Tickets you may see, newest first")
def list_tickets(
    principal: Reader,
    view: Literal["mine", "team", "all"] = "all",
    status: Status | None = None,
    type: TicketType | None = None,
    priority: Priority | None = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**62, description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketPage:
    with get_database().read() as session:
        reach = reach_of(session, principal)
        stmt = select(Ticket).where(visible(reach))
        if view == "mine":
            stmt = stmt.where(Ticket.owner_id == reach.user_id)
        elif view == "team":
            stmt = stmt.where(Ticket.team_id.in_(reach.team_ids or (-1,)))
        for column, value in (
            (Ticket.status, status),
            (Ticket.type, type),
            (Ticket.priority, priority),
            (Ticket.customer_id, customer_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if cursor is not None:
            stmt = stmt.where(Ticket.id < cursor)
        rows = list(session.scalars(stmt.order_by(Ticket.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return TicketPage(
            items=[TicketOut.of(r) for r in rows],
            next_cursor=str(rows[-1].id) if more and rows else None,
        )


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
