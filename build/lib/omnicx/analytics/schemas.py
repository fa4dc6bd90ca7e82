"""What the analytics API returns: aggregates and pseudonymous customers, no one by name."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class NamedCount(BaseModel):
    name: str
    count: int


class DayCount(BaseModel):
    day: date
    customers: int


class Overview(BaseModel):
    customers: int = Field(description="Current customers (merged-away and erased ones left out)")
    since: datetime
    until: datetime
    events: int = Field(description="Events in the window")
    events_by_type: dict[str, int]
    events_by_channel: dict[str, int]
    top_events: list[NamedCount] = Field(description="Most frequent event names in the window")
    new_customers_per_day: list[DayCount] = Field(
        description="Customers first seen on each day of the window (days without any left out)"
    )


class PseudonymousCustomer(BaseModel):
    id: str = Field(description="Pseudonymous id: stable, but not the customer's id")
    channels: list[str]
    event_count: int
    identifier_types: dict[str, int] = Field(description="How many identifiers of each type")
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    traits: dict[str, Any] = Field(description="Public traits only")


class PseudonymousPage(BaseModel):
    items: list[PseudonymousCustomer]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")
