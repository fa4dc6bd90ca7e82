"""Governance tables: principals, access policies, the audit chain, consent, suppressions,
privacy requests and retention runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId
from omnicx.governance import totp

ROLES = ("admin", "supervisor", "senior_agent", "agent", "analyst")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Login back-off: consecutive failures, and when the account may try again.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Base32 TOTP secret, encrypted; None: no second factor.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText(totp.PURPOSE))
    # The time step of the last code accepted: a code is good for one sign-in only.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The language the UI speaks to them ("zh-CN", "en"); None: their browser's.
    locale: Mapped[str | None] = mapped_column(String(16))


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored (tokens are 256-bit random).

    ``scopes`` (JSON list of permissions) narrows the role to some API areas; None means
    everything the role allows.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(Integer)
    scopes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccessPolicy(Base):
    """A role's masking policy (JSON) when an admin changed it from the default."""

    __tablename__ = "access_policies"

    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    policy: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class AuditEntry(Base):
    """One audited action. ``hash`` = SHA-256 of ``prev_hash`` and the row's content, so
    changing, inserting or deleting a row breaks the chain from there on."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_action", "action"),
        Index("ix_audit_log_actor", "actor"),
        Index("ix_audit_log_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    ip: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last link; writers lock this one row so the chain never forks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigId, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class Consent(Base):
    """One consent decision (history: the latest per purpose and channel counts).

    ``channel`` "*" covers every channel; ``source`` is event, ui, api or import.
    """

    __tablename__ = "consents"
    __table_args__ = (
        Index("ix_consents_customer", "customer_id", "purpose", "channel"),
        # Which decisions an event carried (replays, unmerges re-attribute them).
        Index("ix_consents_event_seq", "event_seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId)
    purpose: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32), default="*")
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16))
    event_seq: Mapped[int | None] = mapped_column(BigId)
    actor: Mapped[str | None] = mapped_column(String(200))
    # Free text a person typed: it may name the customer, so it is encrypted.
    note: Mapped[str | None] = mapped_column(EncryptedText("consents.note"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Blind index of the customer's strongest identifier when a person recorded it: a
    # replay re-numbers customers, and this finds the decision's person again.
    anchor_hash: Mapped[bytes | None] = mapped_column(LargeBinary(20))


class Suppression(Base):
    """An identifier (by blind index only) that must not be re-ingested ("all") or must
    not receive marketing ("marketing")."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("key_hash", "scope", name="uq_suppressions_key_scope"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(20))
    identifier_type: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    privacy_request_id: Mapped[int | None] = mapped_column(BigId)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PrivacyRequest(Base):
    """A data subject's export or erasure request, with its status and legal deadline."""

    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_requests_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(16), default="received")
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What was done (counts per table, never personal data).
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class RetentionRun(Base):
    """One pass of the retention job and its report (JSON: per kind, cutoff and counts)."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    report: Mapped[str] = mapped_column(Text, default="{}")
