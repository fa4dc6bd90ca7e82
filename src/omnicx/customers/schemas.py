"""What the customer API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, field_validator

from omnicx.governance.access import Shown as ShownField

Shown = Literal["plain", "masked", "hidden"]


class IdentifierOut(BaseModel):
    id: int
    type: str
    scope: str = ""
    value: str | None = Field(description="As the reader's role sees it; null when hidden")
    display: Shown = "plain"


class TimelineItem(BaseModel):
    seq: int
    occurred_at: datetime
    type: str
    name: str | None
    channel: str
    source_id: int
    properties: dict[str, Any] = Field(default_factory=dict)
    withheld: bool = Field(
        False,
        description="About an order beyond the reader's order limit: shown without its"
        " properties (no order id, total or products)",
    )


class MergeOut(BaseModel):
    id: int
    survivor_id: int
    merged_id: int
    reason: str
    created_at: datetime
    undone_at: datetime | None


class OrderEvent(BaseModel):
    seq: int
    name: str
    occurred_at: datetime
    properties: dict[str, Any] = Field(default_factory=dict)


class OrderOut(BaseModel):
    """One order, from its Segment e-commerce events ("Order Completed", "Order Shipped"…)."""

    order_id: str | None
    status: str = Field(description="The latest order event, e.g. Order Shipped")
    placed_at: datetime
    total: float | None = None
    currency: str | None = None
    products: list[dict[str, Any]] = Field(default_factory=list)
    events: list[OrderEvent] = Field(description="Newest first")


class FieldAccess(BaseModel):
    """How one personal or sensitive field was shown to this reader."""

    field: str = Field(description='"traits.<key>" or "identifiers.<id>"')
    field_class: Literal["personal", "sensitive"]
    display: Shown
    revealable: bool = Field(description="POST /reveal with a reason would show it")


class AccessOut(BaseModel):
    role: str
    fields: list[FieldAccess]
    orders_limit: int | None = Field(description="Newest orders shown; null: all")
    timeline_limit: int | None = Field(description="Newest timeline items reachable; null: all")


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
    orders: list[OrderOut] = Field(description="Newest first, as many as the role may see")
    orders_total: int = Field(description="How many orders the customer has")
    merges: list[MergeOut]
    access: AccessOut
    erased_at: datetime | None = Field(
        None, description="Set when the person was erased: the record holds no personal data"
    )
    # How each field in ``access.fields`` was shown, kept for the audit row of this read.
    _shown: list[ShownField] = PrivateAttr(default_factory=list)


class TimelinePage(BaseModel):
    customer_id: int
    items: list[TimelineItem]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")
    limited_to: int | None = Field(
        None, description="The reader's role reaches only this many newest items"
    )


class RevealRequest(BaseModel):
    field: str = Field(
        pattern=r"^(traits\..+|identifiers\.[0-9]{1,19})$",
        max_length=200,
        description='"traits.<key>" or "identifiers.<id>" (see access.fields in the 360)',
    )
    reason: str = Field(min_length=1, max_length=500, description="Why you need it (audited)")

    @field_validator("reason")
    @classmethod
    def _reason_has_words(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("give the reason you need to see this field")
        return reason.strip()


class RevealOut(BaseModel):
    customer_id: int
    field: str
    value: Any


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


class CustomerSummary(BaseModel):
    """A row of the customer list, masked for the reader's role."""

    id: int
    name: str | None = Field(None, description="As the reader's role may see it")
    channels: list[str]
    event_count: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    matched_by: str | None = Field(
        None, description="identifier or name when the list answers a search (q)"
    )


class CustomerPage(BaseModel):
    items: list[CustomerSummary]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")
