"""The attachment API's answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AttachmentOut(BaseModel):
    id: int
    conversation_id: int | None
    name: str = Field(description="The original name, sanitised; its ending fits the content")
    type: str = Field(description="The content type detected from the bytes")
    declared_type: str = Field(description="The content type the uploader declared")
    size: int
    sha256: str
    uploaded_by: Literal["agent", "customer"]
    uploader_user_id: int | None
    created_at: datetime
