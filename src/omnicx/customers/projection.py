"""The customer processor: resolve identities, then fold events into profiles.

It runs over the event log like every processor (see ``core.processing``): a batch is
resolved against the identity graph, merges and splits are applied to the profiles,
and each event lands on its customer's timeline, all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from omnicx.core.database import select_in
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.facts import NewFact, record_facts
from omnicx.core.eventlog.table import read_events
from omnicx.core.processing import is_replayed
from omnicx.core.processing.offsets import lock_offsets
from omnicx.core.serialization import loads
from omnicx.core.settings import get_settings
from omnicx.customers.models import CustomerProfile, TimelineEntry
from omnicx.customers.profiles import ProfileStore
from omnicx.customers.search import forget_name_terms
from omnicx.governance import audit
from omnicx.governance.service import SYSTEM, Principal
from omnicx.identity.extract import Candidate, extract_identifiers
from omnicx.identity.models import Customer, Identifier, Unmerge
from omnicx.identity.replay import pending_unmerge_positions, redo_unmerges, reset_graph
from omnicx.identity.resolve import Resolution, Resolver
from omnicx.identity.service import guardrails, unmerge

CANDIDATES = "identity.candidates"


def candidates(events: Sequence[LogEvent]) -> list[tuple[LogEvent, list[Candidate]]]:
    """Each event with its identifiers (prepared earlier, or extracted now)."""
    guard = guardrails()
    region = get_settings().default_phone_region
    return [
        (
            e,
            e.derived[CANDIDATES]
            if CANDIDATES in e.derived
            else extract_identifiers(e.type, e.payload, guard, region),
        )
        for e in events
    ]


class CustomerProcessor:
    name = "customers"
    # Which merges happen (and so merge ids and history) depends on what a batch holds
    # together: a replay cuts its batches where they ended the first time.
    batch_sensitive = True

    def prepare(self, events: Sequence[LogEvent]) -> None:
        for event, found in candidates(events):
            event.derived[CANDIDATES] = found

    def process(self, session: Session, events: Sequence[LogEvent]) -> None:
        batch = candidates(events)
        resolution = Resolver(session, guardrails()).resolve(batch)
        apply_resolution(session, resolution)
        store = ProfileStore(session, get_settings().trait_strategies)
        store.project(events, resolution.attribution)
        store.save()
        record_customer_facts(session, resolution, store.changed_traits, events[-1].seq or 0)
        # A replay rebuilds merges; the audit log already holds the ones it redoes.
        replayed = {e.seq for e in events if is_replayed(e)}
        everything_replayed = len(replayed) == len(events)
        audit_merges(
            session,
            [
                pair
                for pair, seq in zip(resolution.merges, resolution.merge_seqs, strict=True)
                if not (seq in replayed if seq is not None else everything_replayed)
            ],
        )

    def reset(self, session: Session) -> None:
        """Forget profiles and timelines, and the identity graph (customer ids and the
        unmerges people made stay, for the replay to give back; see ``identity.replay``)."""
        session.execute(delete(TimelineEntry))
        session.execute(delete(CustomerProfile))
        forget_name_terms(session)
        reset_graph(session)

    def actions_between(self, session: Session, after: int, upto: int) -> list[int]:
        return pending_unmerge_positions(session, after, upto)

    def redo_actions(self, session: Session, position: int) -> None:
        for record, resolution in redo_unmerges(session, position):
            apply_resolution(session, resolution)
            record_unmerge_fact(session, record)


def apply_resolution(session: Session, resolution: Resolution) -> None:
    """Follow the graph's merges in the profiles; rebuild customers that were split."""
    store = ProfileStore(session, get_settings().trait_strategies)
    store.merge_all(resolution.merges)
    store.save()
    if resolution.reshaped:
        rebuild_customers(session, resolution.reshaped)


def split_customer(
    session: Session,
    customer_id: int,
    *,
    identifier_ids: Sequence[int],
    merge_id: int | None,
    reason: str,
    actor: Principal,
) -> Unmerge:
    """Unmerge in the graph, then re-attribute the affected customers' history; audited.

    Holds the identity group's offset for the transaction: the unmerge happens between two
    of its batches, at a position a replay can redo it at.
    """
    name = CustomerProcessor.name
    position = lock_offsets(session, [name])[name].position
    record, resolution = unmerge(
        session,
        customer_id,
        identifier_ids=identifier_ids,
        merge_id=merge_id,
        reason=reason,
        actor=actor.actor,
        log_position=position,
    )
    apply_resolution(session, resolution)
    record_unmerge_fact(session, record)
    audit.record(
        session,
        actor,
        "customer.unmerge",
        target_type="customer",
        target_id=record.customer_id,
        detail={
            "merge_id": merge_id,
            "split_identifier_ids": loads(record.identifier_ids),
            "new_customer_ids": loads(record.new_customer_ids),
            "reason": reason,
        },
    )
    return record


def record_customer_facts(
    session: Session, resolution: Resolution, changed_traits: dict[int, set[str]], last: int
) -> None:
    """What a batch ending at ``last`` did to customers, for the groups after identity:
    each new customer, each merge, and per customer the traits it changed (keys only)."""
    facts: list[NewFact] = [
        ("customer.created", str(c), last, {"customer_id": c}) for c in sorted(resolution.created)
    ]
    for (merged, survivor), seq in zip(resolution.merges, resolution.merge_seqs, strict=True):
        facts.append(
            (
                "customer.merged",
                f"{merged}>{survivor}@{seq if seq is not None else last}",
                last,
                {"customer_id": survivor, "merged_id": merged, "event_seq": seq},
            )
        )
    facts.extend(
        ("customer.traits_changed", f"{c}@{last}", last, {"customer_id": c, "traits": sorted(k)})
        for c, k in sorted(changed_traits.items())
    )
    record_facts(session, facts)


def record_unmerge_fact(session: Session, record: Unmerge) -> None:
    """``customer.unmerged``, following where identity stood when it happened."""
    new_ids = loads(record.new_customer_ids)
    payload = {
        "customer_id": record.customer_id,
        "new_customer_ids": new_ids,
        "unmerge_id": record.id,
    }
    record_facts(
        session, [("customer.unmerged", str(record.id), record.log_position or 0, payload)]
    )


def audit_merges(session: Session, merges: Sequence[tuple[int, int]]) -> None:
    """One audit entry per automatic merge (the resolver's, when identifiers meet).

    Written last in the batch's transaction, so the audit chain's head is held only
    from here to the commit, never while identity locks are still being taken.
    """
    for merged, survivor in merges:  # the resolver's pairs are (loser, survivor)
        audit.record(
            session,
            SYSTEM,
            "customer.merge",
            target_type="customer",
            target_id=survivor,
            detail={"merged_id": merged, "rule": "shared_identifier"},
        )


def rebuild_customers(session: Session, customer_ids: Iterable[int]) -> None:
    """Re-attribute and re-project every event of these customers from the log.

    Used after a split (unmerge or guardrail re-partition): each past event goes to the
    customer that now holds its strongest identifier.
    """
    ids = sorted(set(customer_ids))
    seqs = list(
        session.scalars(select(TimelineEntry.event_seq).where(TimelineEntry.customer_id.in_(ids)))
    )
    session.execute(delete(TimelineEntry).where(TimelineEntry.customer_id.in_(ids)))
    session.execute(delete(CustomerProfile).where(CustomerProfile.customer_id.in_(ids)))
    forget_name_terms(session, ids)
    events = read_events(session, seqs)
    batch = candidates(events)
    hashes = sorted({c.key_hash for _, cands in batch for c in cands})
    owner: dict[bytes, int] = {}
    for start in range(0, len(hashes), 500):
        rows = session.execute(
            select(Identifier.key_hash, Identifier.customer_id).where(
                Identifier.key_hash.in_(hashes[start : start + 500])
            )
        )
        owner.update({r.key_hash: r.customer_id for r in rows if r.customer_id is not None})
    attribution: dict[int, int | None] = {}
    for event, cands in batch:
        attribution[event.seq or 0] = next(
            (owner[c.key_hash] for c in cands if c.key_hash in owner), None
        )
    store = ProfileStore(session, get_settings().trait_strategies)
    live = set(
        session.scalars(
            select(Customer.id).where(Customer.id.in_(ids), Customer.merged_into_id.is_(None))
        )
    )
    store.load(live)
    store.project(events, attribution)
    store.save()


OWNERS = "SELECT event_seq, customer_id FROM customer_timeline WHERE event_seq IN ({in})"


def attribute_events(session: Session, events: Sequence[LogEvent]) -> None:
    """Give each event the customer whose timeline holds it (for the groups that follow
    identity; an event no customer owns, e.g. one with only blocked identifiers, keeps
    None)."""
    rows = select_in(session, OWNERS, [e.seq or 0 for e in events])
    owners: dict[int, int] = {int(seq): int(customer_id) for seq, customer_id in rows}
    for event in events:
        event.customer_id = owners.get(event.seq or 0)
