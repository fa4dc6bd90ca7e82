"""The channel registry: one row per configured channel (a web chat widget, a WeChat
official account, an SMS number), whatever its kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base

SECRETS_PURPOSE = "channels.secrets"


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Public by design: it sits in the embed snippet on every page of the site.
    public_token: Mapped[str] = mapped_column(String(64), unique=True)
    # JSON list of web origins (``["https://shop.example.cn"]``) a browser may use it from.
    allowed_origins: Mapped[str] = mapped_column(Text, default="[]")
    # JSON object of what is not secret (``{"prechat": true}``).
    settings: Mapped[str] = mapped_column(Text, default="{}")
    # JSON object of secrets (the identity secret, provider keys), encrypted at rest.
    secrets: Mapped[str] = mapped_column(EncryptedText(SECRETS_PURPOSE))
    # The ingest source its inbound messages are appended under: (source, message_id)
    # makes a retried message a no-op.
    source_id: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
