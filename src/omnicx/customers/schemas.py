"""What the customer API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class IdentifierOut(BaseModel):
    id: int
    type: str
    scope: str = ""
    value: str


class TimelineItem(BaseModel):
    seq: int
    occurred_at: datetime
    type: str
    name: str | None
    channel: str
    source_id: int
    properties: dict[str, Any] = Field(default_factory=dict)


class MergeOut(BaseModel):
    id: int
    survivor_id: int
    merged_id: int
    reason: str
    created_at: datetime
    undone_at: datetime | None


class Customer360(BaseModel):
    id: int
    requested_id: int = Field(description="The id asked for; differs from id after a merge")
    created_at: datetime
    traits: dict[str, Any]
    identifiers: list[IdentifierOut]
    channels: list[str]
    event_count: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    recent_events: list[TimelineItem]
    merges: list[MergeOut]


class TimelinePage(BaseModel):
    customer_id: int
    items: list[TimelineItem]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")


class IdentifierRef(BaseModel):
    type: str = Field(max_length=40)
    value: str = Field(min_length=1, max_length=500)
    scope: str = Field("", max_length=100)


class UnmergeRequest(BaseModel):
    merge_id: int | None = Field(None, description="Undo this merge (see merges in the 360 view)")
    identifier_ids: list[int] = Field(default_factory=list, max_length=1000)
    identifiers: list[IdentifierRef] = Field(default_factory=list, max_length=1000)
    reason: str = Field(min_length=1, max_length=2000)


class UnmergeResult(BaseModel):
    customer_id: int
    new_customer_ids: list[int]
    split_identifier_ids: list[int]
