"""The transactional outbox and its dispatcher.

Side effects are never performed inside a processor or a request transaction. They are
written as outbox rows in that transaction; the dispatcher delivers them after commit,
retries with exponential backoff, and moves what keeps failing to ``dead`` with the
last error. Delivery is at-least-once: receivers dedupe on the ``X-OmniCX-Delivery`` id.

A message to a person names the customer, the purpose (service, marketing, analytics)
and the channel. Just before each attempt the dispatcher asks its ``gate`` (composed in
``runtime.outbound`` from consent and suppression) whether it may still leave: consent
is checked at send time, not when the message was queued. A refused message ends with
status ``refused`` and the reason. The payload is encrypted at rest (it holds what is
said to the person).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import DateTime, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from omnicx.core.crypto import EncryptedText
from omnicx.core.database import Base, BigId, Database
from omnicx.core.i18n import Message
from omnicx.core.serialization import dump_bytes, dumps, loads
from omnicx.core.time import as_utc, utcnow

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 3600.0
PAYLOAD_PURPOSE = "outbox.payload"
# pending → sent | dead | refused (the gate said no; never retried)
STATUSES = ("pending", "sent", "dead", "refused")


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    # JSON, encrypted (ORM reads see the JSON text; key rotation finds the column).
    payload: Mapped[str] = mapped_column(EncryptedText(PAYLOAD_PURPOSE))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Who a message goes to and why, so consent can be checked before it leaves.
    customer_id: Mapped[int | None] = mapped_column(BigId, index=True)
    purpose: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryFailed(Exception):
    """A delivery attempt failed; the dispatcher will retry."""


class DeliveryRefused(Exception):
    """The provider will not take this message, and trying again will not change that
    (WeChat's 48-hour window has closed): it ends ``refused`` with ``reason``, never
    retried. The reason is a sentence for the people who wrote the message."""

    def __init__(self, reason: str | Message):
        super().__init__(str(reason))
        self.reason = reason


# A deliverer may return a note on how the message was sent (a sentence for the people
# who wrote it: WeChat's template message outside the 48-hour window); a sent message
# keeps it in ``last_error``, which otherwise is empty once sent.
Deliverer = Callable[[OutboxMessage, dict[str, Any]], str | Message | None]
# Whether a message may leave now: None, or the reason it is refused. Called in the write
# transaction that records the refusal, so a gate may write its own trail (audit).
Gate = Callable[[Session, OutboxMessage], str | None]
# Told of a refusal (by the gate or a deliverer) in the transaction that records it.
RefusalTrail = Callable[[Session, OutboxMessage, str], None]


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    customer_id: int | None = None,
    purpose: str | None = None,
    channel: str | None = None,
) -> OutboxMessage:
    """Queue a side effect in the caller's transaction; delivered after commit.

    A message to a customer must say why (``purpose``) so that consent can be checked;
    ``channel`` None means no particular channel (only decisions for every channel count).
    """
    if customer_id is not None and not purpose:
        raise ValueError("a message to a customer needs a purpose (service, marketing, ...)")
    now = utcnow()
    message = OutboxMessage(
        kind=kind,
        payload=dumps(payload),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        customer_id=customer_id,
        purpose=purpose,
        channel=channel,
        created_at=now,
    )
    session.add(message)
    return message


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * (2 ** (attempts - 1)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def sign_body(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver_webhook(message: OutboxMessage, payload: dict[str, Any]) -> None:
    """POST ``payload["body"]`` to ``payload["url"]``, signed with ``payload["secret"]``."""
    body = dump_bytes(payload.get("body", {}))
    headers = {"Content-Type": "application/json", "X-OmniCX-Delivery": str(message.id)}
    if payload.get("secret"):
        headers["X-OmniCX-Signature"] = sign_body(payload["secret"], body)
    try:
        response = httpx.post(payload["url"], content=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")


DELIVERERS: dict[str, Deliverer] = {"webhook": deliver_webhook}


class Dispatcher:
    def __init__(
        self,
        database: Database,
        max_attempts: int = 8,
        deliverers: dict[str, Deliverer] | None = None,
        gate: Gate | None = None,
        on_refusal: RefusalTrail | None = None,
    ):
        self.database = database
        self.max_attempts = max_attempts
        self.deliverers = deliverers or DELIVERERS
        self.gate = gate
        self.on_refusal = on_refusal

    def _claim(self, limit: int) -> list[int]:
        with self.database.write() as session:
            stmt = (
                select(OutboxMessage.id)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= utcnow())
                .order_by(OutboxMessage.next_attempt_at)
                .limit(limit)
            )
            if not self.database.sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            ids = list(session.scalars(stmt))
            if ids:
                # Lease the rows so another dispatcher does not take them meanwhile.
                lease = utcnow() + timedelta(minutes=5)
                for message in session.scalars(
                    select(OutboxMessage).where(OutboxMessage.id.in_(ids))
                ):
                    message.next_attempt_at = lease
            return ids

    def dispatch_once(self, limit: int = 100) -> int:
        """Deliver due messages. Returns how many were attempted."""
        ids = self._claim(limit)
        for message_id in ids:
            self._attempt(message_id)
        return len(ids)

    def _attempt(self, message_id: int) -> None:
        with self.database.read() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.status != "pending":
                return
            session.expunge(message)
        addressed = message.customer_id is not None or message.purpose is not None
        if self.gate is not None and addressed and not self._may_leave(self.gate, message_id):
            return
        error: str | None = None
        note: str | Message | None = None
        try:
            deliverer = self.deliverers.get(message.kind)
            if deliverer is None:
                raise DeliveryFailed(f"no deliverer for kind {message.kind!r}")
            note = deliverer(message, loads(message.payload))
        except DeliveryRefused as exc:
            self._refuse(message_id, str(exc.reason))
            return
        except Exception as exc:
            error = str(exc) or type(exc).__name__
        self._finish(message_id, error, str(note)[:2000] if note else None)

    def _refuse(self, message_id: int, reason: str) -> None:
        """A deliverer's refusal: final, with its reason (and the trail's record)."""
        with self.database.write() as session:
            row = session.get(OutboxMessage, message_id)
            if row is None:
                return
            row.attempts += 1
            row.status, row.last_error = "refused", reason[:2000]
            log.info("outbox message %s refused by its deliverer: %s", row.id, reason)
            if self.on_refusal is not None:
                self.on_refusal(session, row, reason)

    def _may_leave(self, gate: Gate, message_id: int) -> bool:
        """Ask the gate, right before sending; record a refusal in the same transaction.

        If the gate itself fails, nothing is sent: the attempt counts as failed and is
        retried like a failed delivery.
        """
        try:
            with self.database.write() as session:
                row = session.get(OutboxMessage, message_id)
                if row is None or row.status != "pending":
                    return False
                reason = gate(session, row)
                if reason is None:
                    return True
                row.status, row.last_error = "refused", reason[:2000]
                log.info("outbox message %s refused: %s", row.id, reason)
                return False
        except Exception as exc:
            log.exception("the outbox gate failed on message %s", message_id)
            self._finish(message_id, f"gate failed: {str(exc) or type(exc).__name__}")
            return False

    def _finish(self, message_id: int, error: str | None, note: str | None = None) -> None:
        """Record an attempt: sent (with the deliverer's note, if any), retried later
        with backoff, or dead."""
        with self.database.write() as session:
            row = session.get(OutboxMessage, message_id)
            if row is None:
                return
            row.attempts += 1
            if error is None:
                row.status, row.delivered_at, row.last_error = "sent", utcnow(), note
            elif row.attempts >= self.max_attempts:
                row.status, row.last_error = "dead", error
                log.warning(
                    "outbox message %s dead after %s attempts: %s", row.id, row.attempts, error
                )
            else:
                row.last_error = error
                row.next_attempt_at = utcnow() + backoff(row.attempts)

    def run_forever(self, stop: threading.Event, poll: float = 0.5) -> None:
        while not stop.is_set():
            try:
                if self.dispatch_once() == 0:
                    stop.wait(poll)
            except Exception:
                log.exception("dispatcher pass failed")
                stop.wait(2.0)


def next_due(message: OutboxMessage) -> datetime:
    return as_utc(message.next_attempt_at)
