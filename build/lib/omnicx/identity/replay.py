"""Identity under a replay: the same customer ids, the same merge history.

A replay deletes identifiers, links, merges and conflicts, and rebuilds them from the log
in the same order, so (numbered from 1 again) they come back with the same ids. Customer
ids are never handed out again: each waits (``DormantCustomer``) until the identifier that
founded it (``Customer.anchor_hash``) founds a customer again, and is used for it. An
unmerge a person made is redone at the position in the log where it happened; until then
the links it blocked hold, so the merges it undid happen again and are undone again.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from omnicx.core.errors import OmniError
from omnicx.core.serialization import loads
from omnicx.identity.batch_state import Resolution
from omnicx.identity.models import (
    Customer,
    DormantCustomer,
    Identifier,
    IdentityConflict,
    IdentityLink,
    LinkBlock,
    Merge,
    Unmerge,
)
from omnicx.identity.service import current_customer_id, identifiers_of, split_identifiers

# Deleted by a replay and numbered from 1 again; conflicts refer to links, links to
# identifiers, so they go first.
REBUILT = (IdentityConflict, IdentityLink, Merge, Identifier)


def reset_graph(session: Session) -> None:
    """Forget the graph before identity is replayed (see the module docstring)."""
    session.execute(delete(DormantCustomer))
    session.execute(
        insert(DormantCustomer).from_select(
            ["customer_id", "anchor_hash"],
            select(Customer.id, Customer.anchor_hash).where(
                Customer.erased_at.is_(None), Customer.anchor_hash.is_not(None)
            ),
        )
    )
    session.execute(
        update(Customer)
        .where(Customer.erased_at.is_(None))
        .values(merged_into_id=None, conflicted=False)
    )
    redone = select(Unmerge.id).where(Unmerge.log_position.is_not(None))
    session.execute(update(Unmerge).where(Unmerge.id.in_(redone)).values(replay_pending=True))
    session.execute(update(LinkBlock).where(LinkBlock.unmerge_id.in_(redone)).values(active=False))
    if session.get_bind().dialect.name == "postgresql":
        tables = ", ".join(model.__tablename__ for model in REBUILT)
        session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    else:  # SQLite numbers a rowid table from max(rowid) + 1: from 1 once it is empty
        for model in REBUILT:
            session.execute(delete(model))


def pending_unmerge_positions(session: Session, after: int, upto: int) -> list[int]:
    """Log positions in [after, upto] where a replay still has to redo an unmerge."""
    return list(
        session.scalars(
            select(Unmerge.log_position)
            .where(
                Unmerge.replay_pending.is_(True),
                Unmerge.log_position.between(after, upto),
            )
            .distinct()
            .order_by(Unmerge.log_position)
        )
    )


def redo_unmerges(session: Session, position: int) -> list[tuple[Unmerge, Resolution]]:
    """Redo, in their order, the unmerges made when identity stood at ``position``.

    One that no longer applies (the log or the rules changed what it split) is dropped
    from the replay and its blocks apply from here on, as they did after it.
    """
    done = []
    records: Sequence[Unmerge] = session.scalars(
        select(Unmerge)
        .where(Unmerge.replay_pending.is_(True), Unmerge.log_position == position)
        .order_by(Unmerge.id)
    ).all()
    for record in records:
        record.replay_pending = False
        resolution = _redo(session, record)
        if resolution is None:
            session.execute(
                update(LinkBlock).where(LinkBlock.unmerge_id == record.id).values(active=True)
            )
        else:
            done.append((record, resolution))
    return done


def _redo(session: Session, record: Unmerge) -> Resolution | None:
    try:
        customer_id = current_customer_id(session, record.customer_id)
    except OmniError:  # gone, or a merge chain too long: not the customer it split
        return None
    members = {i.id for i in identifiers_of(session, customer_id)}
    split = set(loads(record.identifier_ids)) & members
    merge = session.get(Merge, record.merge_id) if record.merge_id is not None else None
    if customer_id != record.customer_id or not split or split == members:
        return None
    if merge is not None and (
        merge.undone_at is not None
        or current_customer_id(session, merge.survivor_id) != customer_id
    ):
        merge = None
    return split_identifiers(session, record, members, split, merge)
