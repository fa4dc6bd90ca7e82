"""What the tickets' API takes and gives (Pydantic); the services build the answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from omnicx.desk.tickets.models import Ticket

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
