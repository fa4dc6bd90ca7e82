"""The backfill queue: identifier values the CRM is authoritative for
(``OMNICX_CRM_IDENTIFIER_TYPES``) that arrive from another source while the CRM never
sent them (the seed's scenario: a member number the communication platform passes on
that the CRM does not have). Each opens an item with an alert; the CRM sending the value
later resolves it by itself; a person may resolve it with a note.

CRM sources are the sources of kind ``crm`` and those named in ``OMNICX_CRM_SOURCES``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict, InvalidInput, NotFound, check_text
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.i18n import msg
from omnicx.core.processing import is_replayed
from omnicx.core.settings import get_settings
from omnicx.core.time import as_utc, utcnow
from omnicx.desk.review.alerts import announce
from omnicx.desk.review.models import BackfillItem, CrmIdentifier
from omnicx.governance import audit
from omnicx.governance.service import Principal
from omnicx.identity.extract import Candidate, extract_identifiers
from omnicx.identity.normalize import InvalidIdentifier, canonical_type
from omnicx.identity.service import guardrails
from omnicx.ingest.sources import source_names_and_kinds

CRM_KIND = "crm"
MAX_NOTE = 2000


def crm_types() -> frozenset[str]:
    """The identifier types (canonical names) the CRM is the authority for."""
    found = set()
    for raw in get_settings().crm_identifier_types:
        try:
            found.add(canonical_type(raw))
        except InvalidIdentifier:
            continue  # a name that cannot be a type never matches anything
    return frozenset(found)


@dataclass
class _Seen:
    event: LogEvent
    candidate: Candidate


def follow_events(session: Session, events: Sequence[LogEvent]) -> None:
    """Note the CRM identifiers of a batch of events, in log order: a CRM source's
    values become known (resolving their items); another source's unknown values open
    or count on an item. Idempotent: an event at or before an item's ``last_seq`` is not
    counted again."""
    types = crm_types()
    if not types or not events:
        return
    guard, region = guardrails(), get_settings().default_phone_region
    seen: list[_Seen] = []
    for event in events:
        for cand in extract_identifiers(event.type, event.payload, guard, region):
            if cand.type in types:
                seen.append(_Seen(event, cand))
    if not seen:
        return
    sources = source_names_and_kinds(session, {s.event.source_id for s in seen})
    crm_names = set(get_settings().crm_sources)
    hashes = sorted({s.candidate.key_hash for s in seen})
    known = {
        bytes(h)
        for h in session.scalars(
            select(CrmIdentifier.key_hash).where(CrmIdentifier.key_hash.in_(hashes))
        )
    }
    items = {
        bytes(i.key_hash): i
        for i in session.scalars(select(BackfillItem).where(BackfillItem.key_hash.in_(hashes)))
    }
    for entry in seen:
        event, cand = entry.event, entry.candidate
        name, kind = sources.get(event.source_id, ("", ""))
        if kind == CRM_KIND or name in crm_names:
            if cand.key_hash not in known:
                known.add(cand.key_hash)
                session.add(
                    CrmIdentifier(
                        key_hash=cand.key_hash,
                        first_seq=event.seq or 0,
                        first_seen_at=event.occurred_at,
                    )
                )
            item = items.get(cand.key_hash)
            if item is not None and item.status == "open":
                item.status, item.resolved_by, item.resolved_at = "resolved", "crm", utcnow()
            continue
        if cand.key_hash in known:
            continue
        item = items.get(cand.key_hash)
        if item is None:
            item = _open_item(session, event, cand, name)
            items[cand.key_hash] = item
        elif (event.seq or 0) > item.last_seq:
            item.events += 1
            item.last_seq = event.seq or 0
            item.last_seen_at = max(as_utc(item.last_seen_at), as_utc(event.occurred_at))
            item.first_seen_at = min(as_utc(item.first_seen_at), as_utc(event.occurred_at))
            item.customer_id = event.customer_id or item.customer_id
    session.flush()


def _open_item(session: Session, event: LogEvent, cand: Candidate, source: str) -> BackfillItem:
    item = BackfillItem(
        key_hash=cand.key_hash,
        type=cand.type,
        scope=cand.scope,
        value=cand.value,
        source_id=event.source_id,
        source_name=source,
        customer_id=event.customer_id,
        first_seen_at=event.occurred_at,
        last_seen_at=event.occurred_at,
        events=1,
        last_seq=event.seq or 0,
        status="open",
    )
    session.add(item)
    session.flush()
    if not is_replayed(event):  # a replay re-derives; it does not alert again
        announce(
            session,
            "backfill",
            item.id,
            {
                "identifier_type": cand.type,
                "source": source,
                "customer_id": event.customer_id,
            },
        )
    return item


def list_backfill(
    session: Session, status: str | None = "open", limit: int = 100
) -> list[BackfillItem]:
    """Backfill items, newest first (``status`` None: every one)."""
    stmt = select(BackfillItem).order_by(BackfillItem.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(BackfillItem.status == status)
    return list(session.scalars(stmt))


def get_backfill(session: Session, item_id: int) -> BackfillItem:
    item = session.get(BackfillItem, item_id)
    if item is None:
        raise NotFound(msg("no backfill item {item_id}", item_id=item_id), field="id")
    return item


def resolve_backfill(session: Session, actor: Principal, item_id: int, note: str) -> BackfillItem:
    """A person marks an open item resolved, saying how; audited. Raises NotFound,
    Conflict (already resolved), InvalidInput (no note)."""
    item = get_backfill(session, item_id)
    note = note.strip()
    check_text(note, "note")
    if not note:
        raise InvalidInput("say how it was resolved (a note)", field="note")
    if len(note) > MAX_NOTE:
        raise InvalidInput(
            msg("a note is at most {maximum} characters", maximum=MAX_NOTE), field="note"
        )
    if item.status != "open":
        raise Conflict(
            msg("backfill item {item_id} is resolved already", item_id=item_id), field="id"
        )
    item.status, item.resolved_by, item.resolved_at, item.note = (
        "resolved",
        actor.actor,
        utcnow(),
        note,
    )
    audit.record(
        session,
        actor,
        "review.backfill.resolve",
        target_type="backfill",
        target_id=item.id,
        detail={"identifier_type": item.type},
    )
    session.flush()
    return item
