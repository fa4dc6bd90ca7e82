"""Identity services: look a customer up by any identifier, unmerge, the review queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from omnicx.core.database import RawStatements
from omnicx.core.errors import Conflict, InvalidInput, NotFound
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.settings import get_settings
from omnicx.core.time import as_datetime, utcnow
from omnicx.governance.blind_index import blind_index
from omnicx.identity.extract import SCOPED_TYPES
from omnicx.identity.models import (
    Customer,
    Identifier,
    IdentityConflict,
    IdentityLink,
    LinkBlock,
    Merge,
    Unmerge,
    open_value,
)
from omnicx.identity.normalize import InvalidIdentifier, canonical_type, normalize, normalize_scope
from omnicx.identity.resolve import Resolution, Resolver
from omnicx.identity.rules import Guardrails

MAX_MERGE_HOPS = 64


def guardrails() -> Guardrails:
    return Guardrails.from_settings(get_settings())


def identifier_hash(kind: str, value: str, scope: str = "") -> tuple[str, str, bytes]:
    """Normalise a raw identifier as ingest would and return (type, scope, blind index)."""
    try:
        canonical = canonical_type(kind)
        normalized = normalize(canonical, value, get_settings().default_phone_region)
    except InvalidIdentifier as exc:
        raise InvalidInput(str(exc), field="value") from exc
    scope = (
        normalize_scope(scope)
        if canonical in SCOPED_TYPES
        or canonical not in ("user_id", "anonymous_id", "email", "phone", "device_id")
        else ""
    )
    return canonical, scope, blind_index(canonical, scope, normalized)


def current_customer_id(session: Session, customer_id: int) -> int:
    """Follow merges to the surviving customer. Raises NotFound.

    On the agent's screen-pop path: raw statements (``RawStatements``), not the ORM.
    """
    raw = RawStatements(session)
    for _ in range(MAX_MERGE_HOPS):
        rows = raw.select("SELECT merged_into_id FROM customers WHERE id = ?", (customer_id,))
        if not rows:
            raise NotFound(msg("no customer {customer_id}", customer_id=customer_id), field="id")
        if rows[0][0] is None:
            return customer_id
        customer_id = int(rows[0][0])
    raise Conflict(
        msg("merge chain of customer {customer_id} is too long", customer_id=customer_id)
    )


def current_customer_ids(session: Session, customer_ids: Sequence[int]) -> dict[int, int]:
    """Each customer's survivor after merges (one query per merge hop, for a page of
    rows at once); unknown ids are left out."""
    found: dict[int, int] = {}
    # asked id -> the id its chain has reached so far
    reached = {c: c for c in set(customer_ids)}
    for _ in range(MAX_MERGE_HOPS):
        if not reached:
            return found
        rows = session.execute(
            select(Customer.id, Customer.merged_into_id).where(
                Customer.id.in_(set(reached.values()))
            )
        ).all()
        onward: dict[int, int | None] = {int(i): m for i, m in rows}
        following: dict[int, int] = {}
        for asked, at in reached.items():
            if at not in onward:
                continue  # unknown: left out
            survivor = onward[at]
            if survivor is None:
                found[asked] = at
            else:
                following[asked] = survivor
        reached = following
    raise Conflict("a merge chain is too long")


def find_customer_by_identifier(session: Session, kind: str, value: str, scope: str = "") -> int:
    """The customer that holds an identifier (raw value, normalised here). Raises NotFound."""
    _, _, key = identifier_hash(kind, value, scope)
    rows = RawStatements(session).select(
        "SELECT customer_id FROM identifiers WHERE key_hash = ?", (key,)
    )
    if not rows or rows[0][0] is None:
        raise NotFound(
            msg("no customer has {kind} {value!r}", kind=kind, value=value), field="value"
        )
    return current_customer_id(session, int(rows[0][0]))


def was_erased(session: Session, customer_id: int) -> bool:
    """Whether an erasure emptied this customer."""
    return session.scalar(select(Customer.erased_at).where(Customer.id == customer_id)) is not None


def erased_among(session: Session, customer_ids: Sequence[int]) -> set[int]:
    """Which of these customers an erasure emptied."""
    return set(
        session.scalars(
            select(Customer.id).where(
                Customer.id.in_(customer_ids), Customer.erased_at.is_not(None)
            )
        )
    )


def identifier_hashes_of(session: Session, customer_ids: Sequence[int]) -> list[bytes]:
    """The blind indexes of these customers' identifiers."""
    return [
        bytes(h)
        for h in session.scalars(
            select(Identifier.key_hash).where(Identifier.customer_id.in_(customer_ids))
        )
    ]


@dataclass(frozen=True)
class IdentifierView:
    id: int
    type: str
    scope: str
    value: str


def identifiers_of(session: Session, customer_id: int) -> list[IdentifierView]:
    rows = RawStatements(session).select(
        "SELECT id, type, scope, value FROM identifiers WHERE customer_id = ? ORDER BY type, id",
        (customer_id,),
    )
    return [IdentifierView(i, kind, scope, open_value(value)) for i, kind, scope, value in rows]


@dataclass(frozen=True)
class MergeView:
    id: int
    survivor_id: int
    merged_id: int
    reason: str
    created_at: datetime
    undone_at: datetime | None


def merges_of(session: Session, customer_id: int) -> list[MergeView]:
    """Merges this customer survived or was folded into, oldest first."""
    rows = RawStatements(session).select(
        "SELECT id, survivor_id, merged_id, reason, created_at, undone_at FROM customer_merges"
        " WHERE survivor_id = ? OR merged_id = ? ORDER BY id",
        (customer_id, customer_id),
    )
    return [
        MergeView(i, s, m, r, as_datetime(c), as_datetime(u) if u else None)
        for i, s, m, r, c, u in rows
    ]


@dataclass(frozen=True)
class MergeRecord:
    """A merge as a person choosing one to undo needs it (no identifier values)."""

    id: int
    survivor_id: int
    merged_id: int
    reason: str
    actor: str
    created_at: datetime
    undone_at: datetime | None
    brought: list[str]  # the types of the identifiers the merged customer brought


def merge_history(session: Session, customer_id: int) -> list[MergeRecord]:
    """Every merge that built the customer ``customer_id`` is now part of (merges into the
    customers folded into it included), oldest first. Raises NotFound."""
    current = current_customer_id(session, customer_id)
    family, frontier = {current}, {current}
    for _ in range(MAX_MERGE_HOPS):
        frontier = (
            set(session.scalars(select(Customer.id).where(Customer.merged_into_id.in_(frontier))))
            - family
        )
        if not frontier:
            break
        family |= frontier
    merges = session.scalars(
        select(Merge)
        .where(or_(Merge.survivor_id.in_(family), Merge.merged_id == current))
        .order_by(Merge.id)
    ).all()
    brought_ids = {i for m in merges for i in loads(m.identifier_ids)}
    types: dict[int, str] = {
        i: kind
        for i, kind in session.execute(
            select(Identifier.id, Identifier.type).where(Identifier.id.in_(brought_ids))
        )
    }
    return [
        MergeRecord(
            id=m.id,
            survivor_id=m.survivor_id,
            merged_id=m.merged_id,
            reason=m.reason,
            actor=m.actor,
            created_at=as_datetime(m.created_at),
            undone_at=as_datetime(m.undone_at) if m.undone_at else None,
            brought=sorted({types[i] for i in loads(m.identifier_ids) if i in types}),
        )
        for m in merges
    ]


def unmerge(
    session: Session,
    customer_id: int,
    *,
    identifier_ids: Sequence[int] = (),
    merge_id: int | None = None,
    reason: str,
    actor: str,
    log_position: int | None = None,
) -> tuple[Unmerge, Resolution]:
    """Split identifiers off a customer, block the links between the parts, re-partition.

    Either name the identifiers, or a merge to undo (the identifiers that merge brought,
    which get their old customer id back). ``log_position`` is where the identity group
    stands (its offset locked by the caller), so that a replay redoes the unmerge at the
    same point. The caller rebuilds the affected customers.
    """
    customer_id = current_customer_id(session, customer_id)
    members = {i.id for i in identifiers_of(session, customer_id)}
    split = set(identifier_ids)
    merge: Merge | None = None
    if merge_id is not None:
        merge = session.get(Merge, merge_id)
        if merge is None or merge.undone_at is not None:
            raise NotFound(msg("no merge {merge_id} to undo", merge_id=merge_id), field="merge_id")
        if current_customer_id(session, merge.survivor_id) != customer_id:
            raise InvalidInput(
                msg(
                    "merge {merge_id} is not part of customer {customer_id}",
                    merge_id=merge_id,
                    customer_id=customer_id,
                ),
                field="merge_id",
            )
        split |= set(loads(merge.identifier_ids))
    split &= members
    if not split:
        raise InvalidInput(
            "nothing to split off: name identifiers of this customer", field="identifier_ids"
        )
    if split == members:
        raise InvalidInput("cannot split every identifier off a customer", field="identifier_ids")
    record = Unmerge(
        customer_id=customer_id,
        new_customer_ids=dumps([]),
        identifier_ids=dumps(sorted(split)),
        merge_id=merge_id,
        reason=reason,
        actor=actor,
        created_at=utcnow(),
        log_position=log_position,
        replay_pending=False,
    )
    session.add(record)
    session.flush()
    return record, split_identifiers(session, record, members, split, merge)


def split_identifiers(
    session: Session, record: Unmerge, members: set[int], split: set[int], merge: Merge | None
) -> Resolution:
    """Carry out an unmerge ``record`` (new, or redone by a replay): cut and block the
    links between ``split`` and the rest of ``members``, re-partition, and give an undone
    merge's identifiers their old customer back."""
    customer_id = record.customer_id
    if merge is not None:
        merge.undone_at = record.created_at
    preferred = dict.fromkeys(split, merge.merged_id) if merge is not None else {}
    _cut_links(session, record, split, members - split)
    resolver = Resolver(session, guardrails(), actor=record.actor)
    resolver.repartition(members, preferred=preferred)
    if merge is not None:
        _follow_restored(session, restored=merge.merged_id, survivor=customer_id)
    owners = {c for i in members if (c := resolver.by_id[i].customer_id) is not None}
    new_ids = sorted(owners - {customer_id})
    record.new_customer_ids = dumps(new_ids)
    session.flush()
    resolver.result.reshaped |= {customer_id, *new_ids}
    return resolver.result


def _follow_restored(session: Session, *, restored: int, survivor: int) -> None:
    """Old ids once merged into ``restored`` point at it again, not at ``survivor``.

    Fix: merge pointers are flattened (m→r then r→s leaves m pointing at s), so undoing
    r→s used to leave m's old id leading to s although m's identifiers went back to r.
    """
    frontier, seen = {restored}, {restored}
    while frontier:
        children = set(
            session.scalars(
                select(Merge.merged_id).where(
                    Merge.survivor_id.in_(sorted(frontier)), Merge.undone_at.is_(None)
                )
            )
        )
        frontier = children - seen
        seen |= frontier
        if frontier:
            session.execute(
                update(Customer)
                .where(Customer.id.in_(sorted(frontier)), Customer.merged_into_id == survivor)
                .values(merged_into_id=restored)
            )


def _cut_links(session: Session, record: Unmerge, split: set[int], rest: set[int]) -> None:
    """Deactivate the links between the parts and block them by blind index (a block a
    replay had set aside is active again from here on)."""
    links = session.scalars(
        select(IdentityLink).where(
            IdentityLink.active.is_(True),
            or_(
                and_(IdentityLink.a_id.in_(split), IdentityLink.b_id.in_(rest)),
                and_(IdentityLink.a_id.in_(rest), IdentityLink.b_id.in_(split)),
            ),
        )
    ).all()
    hashes: dict[int, bytes] = {
        row.id: row.key_hash
        for row in session.execute(
            select(Identifier.id, Identifier.key_hash).where(Identifier.id.in_(split | rest))
        )
    }
    for link in links:
        link.active = False
        link.deactivated_at = record.created_at
        link.deactivated_reason = f"unmerge by {record.actor}: {record.reason}"
        a, b = sorted((hashes[link.a_id], hashes[link.b_id]))
        block = session.scalar(
            select(LinkBlock).where(LinkBlock.a_hash == a, LinkBlock.b_hash == b)
        )
        if block is None:
            session.add(
                LinkBlock(
                    a_hash=a,
                    b_hash=b,
                    reason=record.reason,
                    actor=record.actor,
                    created_at=record.created_at,
                    unmerge_id=record.id,
                    active=True,
                )
            )
        else:
            block.active = True
    session.flush()


def open_conflicts(session: Session, limit: int = 100) -> list[IdentityConflict]:
    return list(
        session.scalars(
            select(IdentityConflict)
            .where(IdentityConflict.status == "open")
            .order_by(IdentityConflict.id)
            .limit(limit)
        )
    )
