"""Sources: where events come from, each with its write key (stored as SHA-256)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.database import Base


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (Index("ix_sources_previous_key_hash", "previous_key_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="segment")
    write_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    write_key_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The key a rotation replaced, accepted until ``previous_key_expires_at``.
    previous_key_hash: Mapped[str | None] = mapped_column(String(64))
    previous_key_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    key_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Web origins a browser may send this source's events from, as a JSON list
    # (``["https://shop.example.cn"]``, or ``["*"]`` for any); empty for server sources.
    allowed_origins: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
