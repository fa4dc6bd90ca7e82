"""What the identity API returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ConflictSide(BaseModel):
    identifier_id: int
    type: str
    value: str
    customer_id: int | None


class ConflictOut(BaseModel):
    id: int
    link_id: int
    reason: str
    status: str
    created_at: datetime
    sides: list[ConflictSide]
