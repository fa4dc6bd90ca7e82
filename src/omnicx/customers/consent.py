"""Consent of a customer: from the events they send, across merges.

Governance keeps the decisions and the rules (``governance.consent``); this module knows
customers: which ids a customer's decisions live on (merges), which identifier finds the
person again after a replay, and what a tracked call says about consent.

**From events** (source ``event``, at the event's time, for the customer the event belongs
to):

* Segment's consent spec, on any call: ``context.consent.categoryPreferences``, e.g.
  ``{"Marketing": true, "Analytics": false}``. Category names are matched without regard
  to case: ``service``, ``marketing`` (or ``advertising``), ``analytics``; others are
  ignored. They apply to every channel (``*``).
* Traits (of an ``identify`` call, or ``context.traits``): ``consent`` as
  ``{"marketing": true}`` (every channel) or ``{"marketing": {"email": true, "sms":
  false}}`` (per channel; ``*`` or ``all`` for every one), and ``marketing_opt_in: true``.

Segment stamps the current preferences on every call, so an event's preference is
recorded only when it differs from what that customer's events said before: a repeated
stamp is not a new decision, and does not override an opt-out the customer gave an agent
meanwhile. An event that *is* the person deciding (``properties.consent_explicit``: an SMS
``STOP``) is recorded every time: a second ``STOP`` after an agent re-granted counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.database import chunks
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.facts import is_fact
from omnicx.core.time import as_utc
from omnicx.customers.models import TimelineEntry
from omnicx.customers.privacy.person import merged_family
from omnicx.customers.profiles import traits_of
from omnicx.governance.consent import (
    CHANNELS,
    EVERY_CHANNEL,
    ConsentSubject,
    attach_decisions,
    detached_decisions,
    event_decision_seqs,
    forget_event_decisions,
    latest_event_decisions,
    move_event_decisions,
    record_decision,
)
from omnicx.identity.models import Customer, Identifier
from omnicx.identity.rules import strength
from omnicx.identity.service import current_customer_id

DECISIONS = "consent.decisions"

# Segment consent categories (lower-cased) → purposes.
CATEGORIES = {
    "service": "service",
    "marketing": "marketing",
    "advertising": "marketing",
    "analytics": "analytics",
}
PURPOSE_TRAITS = {"service", "marketing", "analytics"}
EVERY_CHANNEL_KEYS = {EVERY_CHANNEL, "all"}

Decision = tuple[str, str, bool]  # (purpose, channel, granted)


def consent_subject(session: Session, customer_id: int) -> ConsentSubject:
    """The surviving customer, every id merged into it, and its strongest identifier.

    Raises NotFound for an unknown id.
    """
    survivor = current_customer_id(session, customer_id)
    ids = merged_family(session, survivor)
    identifiers = session.execute(
        select(Identifier.type, Identifier.key_hash).where(Identifier.customer_id == survivor)
    ).all()
    anchor = min(identifiers, key=lambda i: (strength(i.type), i.key_hash), default=None)
    erased_at = session.scalar(select(Customer.erased_at).where(Customer.id == survivor))
    return ConsentSubject(
        customer_id=survivor,
        customer_ids=frozenset(ids),
        anchor_hash=bytes(anchor.key_hash) if anchor else None,
        erased=erased_at is not None,
    )


def _granted(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _from_categories(payload: dict[str, Any]) -> list[Decision]:
    context = payload.get("context")
    consent = context.get("consent") if isinstance(context, dict) else None
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if not isinstance(preferences, dict):
        return []
    found = []
    for category, value in preferences.items():
        purpose = CATEGORIES.get(str(category).strip().lower())
        granted = _granted(value)
        if purpose is not None and granted is not None:
            found.append((purpose, EVERY_CHANNEL, granted))
    return found


def _from_traits(traits: dict[str, Any]) -> list[Decision]:
    found: list[Decision] = []
    if (granted := _granted(traits.get("marketing_opt_in"))) is not None:
        found.append(("marketing", EVERY_CHANNEL, granted))
    consent = traits.get("consent")
    if not isinstance(consent, dict):
        return found
    for key, value in consent.items():
        purpose = str(key).strip().lower()
        if purpose not in PURPOSE_TRAITS:
            continue
        if (granted := _granted(value)) is not None:
            found.append((purpose, EVERY_CHANNEL, granted))
        elif isinstance(value, dict):
            for channel_key, channel_value in value.items():
                channel = str(channel_key).strip().lower()
                channel = EVERY_CHANNEL if channel in EVERY_CHANNEL_KEYS else channel
                granted = _granted(channel_value)
                if granted is not None and (channel == EVERY_CHANNEL or channel in CHANNELS):
                    found.append((purpose, channel, granted))
    return found


def decisions_in(event: LogEvent) -> list[Decision]:
    """What a tracked call says about consent, ``*`` before channels, one per cell.

    Recorded in this order at the event's time, so that within one event a channel's own
    preference is the one that counts (governance's tie rule agrees).
    """
    found = _from_categories(event.payload) + _from_traits(traits_of(event))
    cells: dict[tuple[str, str], bool] = {}
    for purpose, channel, granted in found:
        cells[(purpose, channel)] = granted  # the later source in one event wins
    return sorted(
        ((p, c, g) for (p, c), g in cells.items()), key=lambda d: (d[1] != EVERY_CHANNEL, d)
    )


class ConsentProcessor:
    """Records the consent that events carry, for the customer each event belongs to.

    Its group runs after identity, so each event arrives with its customer
    (``LogEvent.customer_id``). Idempotent: an event already recorded is skipped. A
    replay deletes the event-sourced decisions and rebuilds them; decisions people took
    (UI, API, CLI) are kept and wait, detached, until their anchor identifier has a
    customer again.
    """

    name = "consent"
    # A split moves the decisions its events carried; other facts change nothing here.
    facts = frozenset({"customer.unmerged"})

    def prepare(self, events: Sequence[LogEvent]) -> None:
        for event in events:
            event.derived[DECISIONS] = decisions_in(event)

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        for fact in events:
            if is_fact(fact) and fact.name == "customer.unmerged":
                follow_split(
                    session, [fact.payload["customer_id"], *fact.payload["new_customer_ids"]]
                )
        found = [
            (e, e.derived[DECISIONS] if DECISIONS in e.derived else decisions_in(e))
            for e in events
            if not is_fact(e)
        ]
        carrying = [(e, d) for e, d in found if d and e.customer_id is not None]
        if carrying:
            record_event_decisions(session, carrying)
        reattach_decisions(session)

    def reset(self, session: Session) -> None:
        forget_event_decisions(session)


def explicit_decision(event: LogEvent) -> bool:
    """Whether the event is the person deciding (an SMS keyword), not a stamp of their
    preferences: then it is a decision even when it repeats what their events said."""
    properties = event.payload.get("properties")
    return isinstance(properties, dict) and properties.get("consent_explicit") is True


def record_event_decisions(
    session: Session, carrying: Sequence[tuple[LogEvent, list[Decision]]]
) -> None:
    """Record each event's decisions that change what the customer's events said."""
    done = event_decision_seqs(session, [e.seq or 0 for e, _ in carrying])
    said = latest_event_decisions(
        session, sorted({e.customer_id for e, _ in carrying if e.customer_id})
    )
    for event, decisions in carrying:
        seq, customer_id = event.seq or 0, event.customer_id
        if seq in done or customer_id is None:
            continue
        at = as_utc(event.occurred_at)
        stamp = not explicit_decision(event)
        for purpose, channel, granted in decisions:
            cell = (customer_id, purpose, channel)
            before = said.get(cell)
            if stamp and before is not None and before[1] == granted and before[0] <= at:
                continue  # the same preference stamped again: not a decision
            record_decision(
                session,
                customer_id,
                purpose,
                channel,
                granted,
                source="event",
                occurred_at=event.occurred_at,
                actor=f"source:{event.source_id}",
                event_seq=seq,
            )
            if before is None or before[0] <= at:
                said[cell] = (at, granted)
    session.flush()


def reattach_decisions(session: Session) -> None:
    """Give detached decisions (after a replay) back to the customer of their anchor."""
    waiting = detached_decisions(session)
    if not waiting:
        return
    anchors = sorted({anchor for _, anchor in waiting})
    owner: dict[bytes, int] = {}
    for part in chunks(anchors):
        rows = session.execute(
            select(Identifier.key_hash, Identifier.customer_id).where(
                Identifier.key_hash.in_(part), Identifier.customer_id.is_not(None)
            )
        )
        owner.update({bytes(k): c for k, c in rows if c is not None})
    moves: dict[int, list[int]] = {}
    for consent_id, anchor in waiting:
        if anchor in owner:
            moves.setdefault(owner[anchor], []).append(consent_id)
    attach_decisions(session, moves)


def follow_split(session: Session, customer_ids: Sequence[int]) -> None:
    """After an unmerge re-attributed these customers' events (the ``customer.unmerged``
    fact), move the consent each event carried to the customer whose timeline holds it."""
    owners: dict[int, int] = {}
    for part in chunks(sorted(set(customer_ids))):
        rows = session.execute(
            select(TimelineEntry.event_seq, TimelineEntry.customer_id).where(
                TimelineEntry.customer_id.in_(part)
            )
        )
        owners.update({seq: customer_id for seq, customer_id in rows})
    move_event_decisions(session, owners)
