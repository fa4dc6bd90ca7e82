"""The desk API's bodies and answers (Pydantic v2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Status = Literal["bot", "open", "pending", "snoozed", "resolved"]
Priority = Literal["low", "normal", "high", "urgent"]
View = Literal["mine", "unassigned", "team", "all"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationOut(BaseModel):
    id: int
    channel: str
    thread: str
    customer_id: int | None
    status: Status
    snoozed_until: datetime | None
    priority: Priority
    labels: list[str]
    team_id: int | None
    assignee_id: int | None
    created_at: datetime
    updated_at: datetime
    first_reply_at: datetime | None
    waiting_since: datetime | None
    last_message_at: datetime | None
    resolved_at: datetime | None


class ConversationDetail(ConversationOut):
    customer: dict[str, Any] = Field(
        description="The customer's name, phone, e-mail, tags, tier, masked for your role"
    )


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page")


class MessageOut(BaseModel):
    id: int
    direction: Literal["in", "out", "note"]
    author_user_id: int | None
    author_name: str | None = Field(None, description="The agent's display name")
    text: str = Field(description="Masked for your role (phones, e-mails in free text)")
    attachments: list[Any] = Field(
        description="Files sent with it: id, name, type, size (GET /api/v1/attachments/{id})"
    )
    created_at: datetime
    delivery: Literal["received", "sent", "queued", "delivered", "failed", "refused", "internal"]
    delivery_reason: str | None = Field(
        None, description="Why a reply was refused (WeChat's 48-hour window…), in your language"
    )


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None = None


class NewMessage(Strict):
    kind: Literal["reply", "note"] = Field(
        "reply", description="reply: to the customer; note: private, never sent"
    )
    text: str = Field("", max_length=20_000)
    attachment_ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(
        default_factory=list,
        max_length=10,
        description="Files uploaded to this conversation (POST …/attachments) to send with it",
    )


class AssignRequest(Strict):
    assignee_id: int | None = Field(None, ge=1, le=2**31 - 1)
    team_id: int | None = Field(None, ge=1, le=2**31 - 1, description="Transfer to this team")
    unassign: bool = False


class StatusRequest(Strict):
    status: Literal["open", "pending", "resolved"]


class LabelsRequest(Strict):
    labels: list[str] = Field(max_length=20)


class SnoozeRequest(Strict):
    until: AwareDatetime


class HandoffRequest(Strict):
    reason: str = Field(min_length=1, max_length=500)


class TeamIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=500)


class TeamOut(BaseModel):
    id: int
    name: str
    description: str
    members: int


class MemberIn(Strict):
    user_id: int = Field(ge=1, le=2**31 - 1)


class AgentOut(BaseModel):
    user_id: int
    email: str
    display_name: str
    skills: list[str]
    capacity: int
    presence: Literal["online", "away", "offline"]
    open_conversations: int


class PresenceIn(Strict):
    presence: Literal["online", "away", "offline"]


class PresenceOut(BaseModel):
    user_id: int
    presence: str
    since: datetime
