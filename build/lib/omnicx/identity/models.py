"""The identity graph: identifiers joined by links; a customer is a connected component."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText, decrypt_text, encrypt_text
from omnicx.core.database import Base, BigId

VALUE_PURPOSE = "identifiers.value"


def seal_value(value: str) -> str:
    """An identifier value as the raw statements store it (encrypted)."""
    return encrypt_text(value, VALUE_PURPOSE)


def open_value(stored: str) -> str:
    return decrypt_text(stored, VALUE_PURPOSE)


class Customer(Base):
    """One real person: the id of a connected component of active links.

    ``merged_into_id`` points a merged-away customer at its survivor, so old ids keep
    working. ``conflicted`` marks a customer whose link component was split by a
    guardrail (it is re-partitioned whenever that component changes). ``anchor_hash`` is
    the blind index of the strongest identifier of what founded it (an event, a split):
    a replay gives the same id back to what the same identifier founds again.
    """

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merged_into_id: Mapped[int | None] = mapped_column(BigId, index=True)
    conflicted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    anchor_hash: Mapped[bytes | None] = mapped_column(LargeBinary(20))
    # Set by an erasure: the row stays (anonymous aggregates) but holds no personal data.
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DormantCustomer(Base):
    """A customer id waiting, during a replay of identity, to be founded again by its
    anchor identifier (then it is taken out of here and used again)."""

    __tablename__ = "identity_dormant_customers"
    __table_args__ = (Index("ix_identity_dormant_customers_anchor", "anchor_hash"),)

    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    anchor_hash: Mapped[bytes] = mapped_column(LargeBinary(20))


class Identifier(Base):
    """A typed, normalised identifier. Looked up only by ``key_hash`` (blind index); the
    value itself is stored encrypted (raw statements use ``seal_value``/``open_value``)."""

    __tablename__ = "identifiers"
    __table_args__ = (Index("ix_identifiers_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(100), default="")
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(20), unique=True)
    value: Mapped[str] = mapped_column(EncryptedText(VALUE_PURPOSE))
    customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_event_seq: Mapped[int | None] = mapped_column(BigId)


class IdentityLink(Base):
    """Evidence that two identifiers belong to one person, with its provenance.

    Append-only: unlinking sets ``active`` to false with a reason; the row stays.
    ``a_id < b_id`` always, so a pair has one row.
    """

    __tablename__ = "identity_links"
    __table_args__ = (
        UniqueConstraint("a_id", "b_id", name="uq_identity_links_pair"),
        Index("ix_identity_links_b", "b_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    a_id: Mapped[int] = mapped_column(BigId, ForeignKey("identifiers.id"))
    b_id: Mapped[int] = mapped_column(BigId, ForeignKey("identifiers.id"))
    rule: Mapped[str] = mapped_column(String(40))
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    source_event_seq: Mapped[int | None] = mapped_column(BigId)
    verified_by: Mapped[str | None] = mapped_column(String(200))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deactivated_reason: Mapped[str | None] = mapped_column(Text)


class LinkBlock(Base):
    """A decision that two identifiers must not be linked (made by an unmerge).

    Kept by blind index, not by identifier id, so it survives a replay from the log. A
    replay deactivates the blocks of the unmerges it will redo, until it reaches them:
    before that point the link held, and the merge it caused happened.
    """

    __tablename__ = "identity_link_blocks"
    __table_args__ = (UniqueConstraint("a_hash", "b_hash", name="uq_identity_link_blocks_pair"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    a_hash: Mapped[bytes] = mapped_column(LargeBinary(20))
    b_hash: Mapped[bytes] = mapped_column(LargeBinary(20))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unmerge_id: Mapped[int | None] = mapped_column(BigId)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Merge(Base):
    """History: ``merged_id`` was folded into ``survivor_id`` (undo with an unmerge)."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    survivor_id: Mapped[int] = mapped_column(BigId, index=True)
    merged_id: Mapped[int] = mapped_column(BigId, index=True)
    # The identifiers the merged customer brought along (JSON list of ids).
    identifier_ids: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(40))
    event_seq: Mapped[int | None] = mapped_column(BigId)
    actor: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Unmerge(Base):
    """History: identifiers split off a customer by a person, with the reason.

    ``log_position`` is where the identity group stood in the log when it happened: a
    replay redoes it at exactly that point (``replay_pending`` until it has).
    """

    __tablename__ = "customer_unmerges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId, index=True)
    new_customer_ids: Mapped[str] = mapped_column(Text)
    identifier_ids: Mapped[str] = mapped_column(Text)
    merge_id: Mapped[int | None] = mapped_column(BigId)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    log_position: Mapped[int | None] = mapped_column(BigId, index=True)
    replay_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class IdentityConflict(Base):
    """The review queue: a link a guardrail refused (e.g. two different CRM ids)."""

    __tablename__ = "identity_conflicts"
    __table_args__ = (
        UniqueConstraint("link_id", name="uq_identity_conflicts_link"),
        Index("ix_identity_conflicts_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    link_id: Mapped[int] = mapped_column(BigId, ForeignKey("identity_links.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
