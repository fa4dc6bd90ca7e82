"""The customer projection: one profile per surviving customer, and its timeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId

TRAITS_PURPOSE = "customer_profiles.traits"


class CustomerProfile(Base):
    """Traits (JSON), when each trait was set (JSON, epoch µs), counters, first/last seen."""

    __tablename__ = "customer_profiles"
    # The customer list pages by last activity (customers.directory).
    __table_args__ = (Index("ix_customer_profiles_last_seen", "last_seen_at", "customer_id"),)

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True)
    # Encrypted JSON: ORM reads see the JSON text; raw statements use profiles' codec.
    traits: Mapped[str] = mapped_column(EncryptedText(TRAITS_PURPOSE), default="{}")
    trait_times: Mapped[str] = mapped_column(Text, default="{}")
    channels: Mapped[str] = mapped_column(Text, default="[]")
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TimelineEntry(Base):
    """One event on one customer's cross-channel timeline."""

    __tablename__ = "customer_timeline"
    __table_args__ = (
        Index("ix_customer_timeline_customer_time", "customer_id", "occurred_at", "event_seq"),
    )

    event_seq: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[int] = mapped_column(Integer)
    # The order the event is about (its properties' order_id), so that the 360 picks a
    # customer's newest orders in SQL and decrypts only the payloads of those it shows.
    order_id: Mapped[str | None] = mapped_column(String(200))


class CustomerNameTerm(Base):
    """A keyed hash of one term of a customer's name (``customers.search``): names are
    encrypted at rest, and these let an agent find a customer by name without them
    being stored in plain text."""

    __tablename__ = "customer_name_terms"
    __table_args__ = (Index("ix_customer_name_terms_customer", "customer_id"),)

    term_hash: Mapped[bytes] = mapped_column(LargeBinary(20), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True)
