"""What a privacy request needs from the domains above governance, and where they put it.

The person's data lives in tables of higher domains (identity, customers, the event log,
the outbox), which governance must not import. Those domains implement
``PersonalDataHandler`` and ``SubjectLocator``, and ``runtime.privacy`` registers them in
``registry``; governance only ever talks to these protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import ColumnElement, or_
from sqlalchemy.orm import Session

from omnicx.core.errors import ServiceUnavailable
from omnicx.governance.models import Consent, PrivacyRequest


@dataclass(frozen=True)
class SubjectIdentifier:
    """One identifier of the person, as the blind index knows it (no value)."""

    type: str
    key_hash: bytes


@dataclass(frozen=True)
class Subject:
    """The person a request is about.

    ``customer_ids`` holds the survivor and every customer merged into it (following
    ``merged_into_id`` chains); ``event_seqs`` the events on their timeline.
    """

    customer_id: int
    customer_ids: tuple[int, ...]
    identifiers: tuple[SubjectIdentifier, ...]
    event_seqs: tuple[int, ...]

    @property
    def key_hashes(self) -> frozenset[bytes]:
        return frozenset(i.key_hash for i in self.identifiers)


def consents_of(subject: Subject) -> ColumnElement[bool]:
    """The person's consent decisions: by customer, or by the blind index a decision keeps
    to find its person again after a replay re-numbered customers."""
    return or_(
        Consent.customer_id.in_(subject.customer_ids),
        Consent.anchor_hash.in_(sorted(subject.key_hashes)),
    )


Progress = Callable[[int], None]


def no_progress(_: int) -> None:
    return None


@dataclass
class Erasure:
    """One erasure in progress: handlers add their counts and what to clean up after
    commit (JetStream messages by stream sequence, tables to vacuum)."""

    request: PrivacyRequest
    subject: Subject
    actor: str
    counts: dict[str, int] = field(default_factory=dict)
    stream_seqs: list[int] = field(default_factory=list)
    touched_tables: set[str] = field(default_factory=set)
    progress: Progress = no_progress

    def count(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


class PersonalDataHandler(Protocol):
    """What one domain holds about a person: it exports it, and erases it."""

    name: str

    def export(self, session: Session, subject: Subject, progress: Progress) -> Any:
        """This domain's part of the export bundle (JSON-ready plaintext, for the person)."""

    def erase(self, session: Session, erasure: Erasure) -> None:
        """Remove or redact the person's data; record counts on ``erasure``. Idempotent."""


class SubjectLocator(Protocol):
    """Finds people in the identity graph (provided by the customers domain)."""

    def identifier_key(self, kind: str, value: str, scope: str) -> tuple[str, bytes]:
        """A raw identifier normalised as ingest would: (type, blind index).
        InvalidInput if it is not a valid identifier of that type."""

    def customer_by_identifier(self, session: Session, kind: str, value: str, scope: str) -> int:
        """The surviving customer holding this raw identifier; NotFound if none."""

    def subject(self, session: Session, customer_id: int, *, for_erasure: bool) -> Subject:
        """The person around this customer id; ``for_erasure`` also locks their
        identifiers against concurrent resolution (PostgreSQL)."""


@dataclass
class PrivacyRegistry:
    locator: SubjectLocator | None = None
    handlers: list[PersonalDataHandler] = field(default_factory=list)

    def register(self, handler: PersonalDataHandler) -> None:
        """Add a handler, or replace the one of that name where it stands (wiring may
        run more than once; the order of registration is the order of erasure)."""
        names = [h.name for h in self.handlers]
        if handler.name in names:
            self.handlers[names.index(handler.name)] = handler
        else:
            self.handlers.append(handler)

    def require_locator(self) -> SubjectLocator:
        if self.locator is None:
            raise ServiceUnavailable("privacy handlers are not wired (runtime.privacy.wire)")
        return self.locator


registry = PrivacyRegistry()
