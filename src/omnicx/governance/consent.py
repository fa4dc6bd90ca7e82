"""Consent per purpose and channel: decisions (append-only history) and the state they give.

A decision says that a customer granted or withdrew one purpose (``service``,
``marketing``, ``analytics``) on one channel, or on every channel (``*``). The state of a
(purpose, channel) is the **latest** decision that covers it — one for that channel or one
for ``*`` — ordered by when the customer decided (``occurred_at``); at the same moment a
channel's own decision beats ``*``, then the one recorded last wins. So "no marketing at
all" withdraws an earlier e-mail opt-in, and an e-mail opt-in given afterwards grants
e-mail only.

With no decision, the defaults apply: ``service`` is allowed (replies to the customer are
a legitimate interest), ``marketing`` is denied (opt-in), ``analytics`` follows
``OMNICX_CONSENT_ANALYTICS_DEFAULT`` (allowed unless set to false).

A customer's decisions span merges: governance cannot read the identity graph, so callers
pass a ``ConsentSubject`` (the surviving customer and every id merged into it), built by
``customers.consent.consent_subject``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements, chunks
from omnicx.core.errors import Conflict, InvalidInput
from omnicx.core.i18n import msg
from omnicx.core.settings import get_settings
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import audit
from omnicx.governance.models import Consent
from omnicx.governance.service import Principal

PURPOSES = ("service", "marketing", "analytics")
CHANNELS = ("email", "sms", "wechat", "phone", "web", "app")
EVERY_CHANNEL = "*"
# event: a tracked call carried it; ui: a person on the customer page; api: a program;
# cli: an operator with ``omnicx consent set``.
SOURCES = ("event", "ui", "api", "cli")
# ``customer_id`` of a person's decision while a replay re-numbers customers: it waits
# there until its ``anchor_hash`` identifier belongs to a customer again.
DETACHED = 0
NOTE_MAX = 500


@dataclass(frozen=True)
class ConsentSubject:
    """A customer as consent sees it.

    ``customer_ids`` holds the surviving ``customer_id`` and every id merged into it:
    decisions recorded on any of them count. ``anchor_hash`` is the blind index of the
    customer's strongest identifier (None if it has none left). ``erased``: the person
    was erased, so there is no one left to decide anything.
    """

    customer_id: int
    customer_ids: frozenset[int]
    anchor_hash: bytes | None = None
    erased: bool = False


# Builds the subject for a customer id (following merges); raises NotFound.
SubjectFinder = Callable[[Session, int], ConsentSubject]


@dataclass(frozen=True)
class ConsentDecision:
    id: int
    customer_id: int
    purpose: str
    channel: str
    granted: bool
    source: str
    actor: str | None
    note: str | None
    event_seq: int | None
    occurred_at: datetime
    recorded_at: datetime

    @classmethod
    def of(cls, row: Consent) -> ConsentDecision:
        return cls(
            id=row.id,
            customer_id=row.customer_id,
            purpose=row.purpose,
            channel=row.channel,
            granted=row.granted,
            source=row.source,
            actor=row.actor,
            note=row.note,
            event_seq=row.event_seq,
            occurred_at=as_utc(row.occurred_at),
            recorded_at=as_utc(row.recorded_at),
        )

    @property
    def precedence(self) -> tuple[datetime, bool, int]:
        """Later wins; at the same moment a channel's own decision beats ``*``."""
        return (self.occurred_at, self.channel != EVERY_CHANNEL, self.id)


@dataclass(frozen=True)
class ConsentStatus:
    """Whether ``purpose`` is allowed on ``channel``; ``decided_by`` None: the default."""

    purpose: str
    channel: str
    granted: bool
    decided_by: ConsentDecision | None


def default_granted(purpose: str) -> bool:
    """The state of a purpose nobody decided on (unknown purposes are denied)."""
    if purpose == "service":
        return True
    if purpose == "analytics":
        return get_settings().consent_analytics_default
    return False


def check_purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise InvalidInput(
            msg("purpose must be one of {names}", names=", ".join(PURPOSES)), field="purpose"
        )
    return purpose


def check_channel(channel: str) -> str:
    if channel != EVERY_CHANNEL and channel not in CHANNELS:
        raise InvalidInput(
            msg("channel must be * or one of {names}", names=", ".join(CHANNELS)), field="channel"
        )
    return channel


def status_from(decisions: Iterable[ConsentDecision], purpose: str, channel: str) -> ConsentStatus:
    """The state of one (purpose, channel) given a customer's decisions (any order)."""
    covering = [
        d for d in decisions if d.purpose == purpose and d.channel in (channel, EVERY_CHANNEL)
    ]
    latest = max(covering, key=lambda d: d.precedence, default=None)
    granted = latest.granted if latest is not None else default_granted(purpose)
    return ConsentStatus(purpose, channel, granted, latest)


def decisions_of(
    session: Session, subject: ConsentSubject, purpose: str | None = None
) -> list[ConsentDecision]:
    """Every decision recorded on the subject's customer ids, oldest first."""
    stmt = select(Consent).where(Consent.customer_id.in_(sorted(subject.customer_ids)))
    if purpose is not None:
        stmt = stmt.where(Consent.purpose == purpose)
    found = [ConsentDecision.of(row) for row in session.scalars(stmt)]
    return sorted(found, key=lambda d: d.precedence)


def consent_status(
    session: Session, subject: ConsentSubject, purpose: str, channel: str | None
) -> ConsentStatus:
    """The state of one purpose on one channel now (None: only ``*`` decisions count)."""
    return status_from(decisions_of(session, subject, purpose), purpose, channel or EVERY_CHANNEL)


def consent_grid(
    decisions: Iterable[ConsentDecision],
) -> dict[str, dict[str, ConsentStatus]]:
    """Every purpose × (``*`` and each channel): what the customer page and API show."""
    known = list(decisions)
    return {
        purpose: {
            channel: status_from(known, purpose, channel) for channel in (EVERY_CHANNEL, *CHANNELS)
        }
        for purpose in PURPOSES
    }


def record_decision(
    session: Session,
    customer_id: int,
    purpose: str,
    channel: str,
    granted: bool,
    *,
    source: str,
    occurred_at: datetime,
    actor: str | None = None,
    note: str | None = None,
    event_seq: int | None = None,
    anchor_hash: bytes | None = None,
) -> Consent:
    """Append one decision to the history (validated; no audit: see ``change_consent``)."""
    check_purpose(purpose)
    check_channel(channel)
    if source not in SOURCES:
        raise ValueError(f"unknown consent source {source!r}")
    row = Consent(
        customer_id=customer_id,
        purpose=purpose,
        channel=channel,
        granted=granted,
        source=source,
        event_seq=event_seq,
        actor=None if actor is None else actor[:200],
        note=note or None,
        occurred_at=occurred_at,
        recorded_at=utcnow(),
        anchor_hash=anchor_hash,
    )
    session.add(row)
    return row


def change_consent(
    session: Session,
    principal: Principal,
    subject: ConsentSubject,
    purpose: str,
    channel: str,
    granted: bool,
    *,
    note: str | None,
    source: str,
    ip: str | None = None,
) -> ConsentDecision:
    """Record a decision a person or program takes now, and audit it (``consent.change``).

    The caller checked ``consent:manage``. The audit entry names purpose, channel and
    outcome, never the note (free text may hold personal data).
    """
    if subject.erased:
        raise Conflict(
            msg(
                "customer {customer_id} was erased: no consent can be recorded for them",
                customer_id=subject.customer_id,
            )
        )
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidInput(
            msg("the note is longer than {limit} characters", limit=NOTE_MAX), field="note"
        )
    row = record_decision(
        session,
        subject.customer_id,
        purpose,
        channel,
        granted,
        source=source,
        occurred_at=utcnow(),
        actor=principal.actor,
        note=(note or "").strip() or None,
        anchor_hash=subject.anchor_hash,
    )
    session.flush()
    audit.record(
        session,
        principal,
        "consent.change",
        target_type="customer",
        target_id=subject.customer_id,
        detail={
            "purpose": purpose,
            "channel": channel,
            "granted": granted,
            "source": source,
            "consent_id": row.id,
        },
        ip=ip,
    )
    return ConsentDecision.of(row)


# -- following the customers a replay or a split re-draws -------------------------------------
# Governance cannot read the identity graph or the timeline: the consent processor (in
# ``customers``) works out where decisions belong and moves them through these.


def forget_event_decisions(session: Session) -> None:
    """Before the consent group is replayed: decisions events carried are deleted (the
    replay records them again); people's decisions are kept, detached until their anchor
    identifier belongs to a customer again (``attach_decisions``)."""
    session.execute(delete(Consent).where(Consent.source == "event"))
    session.execute(update(Consent).where(Consent.source != "event").values(customer_id=DETACHED))


DETACHED_DECISIONS = (
    "SELECT id, anchor_hash FROM consents WHERE customer_id = ? AND anchor_hash IS NOT NULL"
)


def detached_decisions(session: Session) -> list[tuple[int, bytes]]:
    """(consent id, anchor identifier's blind index) of every detached decision."""
    # Asked after every batch of the consent group: a plain statement on the customer
    # index (usually no row), not an ORM query.
    rows = RawStatements(session).select(DETACHED_DECISIONS, (DETACHED,))
    return [(int(consent_id), bytes(anchor)) for consent_id, anchor in rows]


def attach_decisions(session: Session, moves: Mapping[int, Sequence[int]]) -> None:
    """Give detached decisions (consent ids) back to a customer: ``{customer: [ids]}``."""
    for customer_id, consent_ids in moves.items():
        for part in chunks(list(consent_ids)):
            session.execute(
                update(Consent).where(Consent.id.in_(part)).values(customer_id=customer_id)
            )


def event_decision_seqs(session: Session, seqs: Sequence[int]) -> set[int]:
    """Which of these events' decisions are recorded already (a batch seen twice)."""
    done: set[int] = set()
    for part in chunks(list(seqs)):
        done.update(
            s
            for s in session.scalars(
                select(Consent.event_seq).where(
                    Consent.source == "event", Consent.event_seq.in_(part)
                )
            )
            if s is not None
        )
    return done


def move_event_decisions(session: Session, owners: Mapping[int, int]) -> None:
    """After a split re-attributed events (``{event seq: customer}``), the decisions
    those events carried follow them."""
    by_customer: dict[int, list[int]] = {}
    for seq, customer_id in owners.items():
        by_customer.setdefault(customer_id, []).append(seq)
    for customer_id, seqs in by_customer.items():
        for part in chunks(sorted(seqs)):
            session.execute(
                update(Consent)
                .where(Consent.source == "event", Consent.event_seq.in_(part))
                .values(customer_id=customer_id)
            )


def latest_event_decisions(
    session: Session, customer_ids: Sequence[int]
) -> dict[tuple[int, str, str], tuple[datetime, bool]]:
    """(customer, purpose, channel) → (time, granted) of the latest decision an event
    carried, for each of these customers."""
    latest: dict[tuple[int, str, str], tuple[datetime, bool]] = {}
    for part in chunks(customer_ids):
        rows = session.execute(
            select(
                Consent.customer_id,
                Consent.purpose,
                Consent.channel,
                Consent.occurred_at,
                Consent.granted,
            )
            .where(Consent.source == "event", Consent.customer_id.in_(part))
            .order_by(Consent.occurred_at, Consent.id)
        )
        for customer_id, purpose, channel, occurred_at, granted in rows:
            latest[(customer_id, purpose, channel)] = (as_utc(occurred_at), granted)
    return latest
