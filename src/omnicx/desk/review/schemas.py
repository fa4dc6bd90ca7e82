"""What the review queues' API answers and takes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Reason(BaseModel):
    code: Literal["same_name", "mentioned_phone", "mentioned_email"]
    # The value the reason rests on, as the reader's role may see it (masked); none for a name.
    value: str | None = None


class SuggestionOut(BaseModel):
    customer_id: int
    name: str | None = Field(description="Masked for the reader's role")
    reasons: list[Reason]


class UnmatchedOut(BaseModel):
    id: int
    customer_id: int
    name: str | None = Field(description="Masked for the reader's role")
    conversation_id: int | None
    channel: str
    first_message_at: datetime
    status: Literal["open", "linking", "linked", "dismissed"]
    target_customer_id: int | None
    decided_by: str | None
    decided_at: datetime | None
    suggestions: list[SuggestionOut]


class BackfillOut(BaseModel):
    id: int
    identifier_type: str
    scope: str
    value: str | None = Field(description="Masked for the reader's role")
    source: str
    customer_id: int | None
    first_seen_at: datetime
    last_seen_at: datetime
    events: int
    status: Literal["open", "resolved"]
    resolved_by: str | None
    resolved_at: datetime | None
    note: str | None


class Counts(BaseModel):
    unmatched: int
    backfill: int


class LinkRequest(BaseModel):
    customer_id: int = Field(ge=1, le=2**62, description="The existing customer to link to")
    note: str = Field("", max_length=2000)


class NoteRequest(BaseModel):
    note: str = Field("", max_length=2000)
