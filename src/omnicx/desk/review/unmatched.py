"""The unmatched queue: customers created by a message from a sender no customer had.

Identity already made a new customer of the sender (nothing is dropped). The review
group reacts to identity's ``customer.created`` fact: if the new customer has a
conversation (it wrote in, rather than only browsing), an item opens with an alert. A
supervisor links it to an existing customer (``link``: a ``Customers Linked`` event on
the log carrying one identifier of each, so identity merges them like any shared
identifier, a replay merges them again, and the conversation follows through the
``customer.merged`` fact), or dismisses it as a genuinely new customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict, InvalidInput, NotFound, check_text
from omnicx.core.eventlog.base import LogEvent
from omnicx.core.eventlog.table import append_rows, stored_rows
from omnicx.core.i18n import msg
from omnicx.core.processing import is_replayed
from omnicx.core.time import utcnow
from omnicx.desk.models import Conversation, Message
from omnicx.desk.review.alerts import announce
from omnicx.desk.review.models import UnmatchedSender
from omnicx.governance import audit
from omnicx.governance.service import Principal
from omnicx.identity.extract import SCOPED_TYPES
from omnicx.identity.rules import strength
from omnicx.identity.service import current_customer_id, identifiers_of
from omnicx.ingest.sources import ensure_source

LINK_SOURCE = "desk"
LINKED = "Customers Linked"
MAX_NOTE = 2000


def follow_created(session: Session, facts: Sequence[LogEvent]) -> None:
    """Open an item for each customer identity just created that came with a message
    (idempotent: one item per customer). Three queries for a run of facts, whatever its
    length: most new customers (browsers) have no conversation."""
    ids = sorted({int(f.payload["customer_id"]) for f in facts})
    if not ids:
        return
    first: dict[int, Conversation] = {}
    for conversation in session.scalars(
        select(Conversation).where(Conversation.customer_id.in_(ids)).order_by(Conversation.id)
    ):
        if conversation.customer_id is not None:
            first.setdefault(conversation.customer_id, conversation)
    if not first:
        return
    known = set(
        session.scalars(
            select(UnmatchedSender.customer_id).where(
                UnmatchedSender.customer_id.in_(sorted(first))
            )
        )
    )
    wanted = {c: v for c, v in first.items() if c not in known}
    if not wanted:
        return
    started: dict[int, datetime] = {}
    for conversation_id, created_at in session.execute(
        select(Message.conversation_id, Message.created_at)
        .where(
            Message.conversation_id.in_([c.id for c in wanted.values()]),
            Message.direction == "in",
        )
        .order_by(Message.id)
    ):
        started.setdefault(conversation_id, created_at)
    replayed = {int(f.payload["customer_id"]) for f in facts if is_replayed(f)}
    for customer_id, conversation in sorted(wanted.items()):
        item = UnmatchedSender(
            customer_id=customer_id,
            conversation_id=conversation.id,
            channel=conversation.channel,
            first_message_at=started.get(conversation.id) or conversation.created_at,
            created_at=utcnow(),
            status="open",
        )
        session.add(item)
        session.flush()
        if customer_id not in replayed:
            announce(
                session,
                "unmatched",
                item.id,
                {
                    "customer_id": customer_id,
                    "conversation_id": conversation.id,
                    "channel": conversation.channel,
                },
            )


def follow_merged(session: Session, fact: LogEvent) -> None:
    """A merge settles the items of the customer merged away (linked to the survivor),
    and a link a person asked for once identity carried it out."""
    merged, survivor = int(fact.payload["merged_id"]), int(fact.payload["customer_id"])
    items = session.scalars(
        select(UnmatchedSender).where(
            UnmatchedSender.customer_id.in_([merged, survivor]),
            UnmatchedSender.status.in_(("open", "linking")),
        )
    ).all()
    for item in items:
        if item.customer_id == merged or item.target_customer_id == merged:
            item.status = "linked"
            item.target_customer_id = survivor if item.customer_id == merged else merged
            item.decided_by = item.decided_by or "identity"
            item.decided_at = item.decided_at or utcnow()


def list_unmatched(
    session: Session, status: str | None = "open", limit: int = 100
) -> list[UnmatchedSender]:
    """Items, newest first (``status`` None: every one)."""
    stmt = select(UnmatchedSender).order_by(UnmatchedSender.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(UnmatchedSender.status == status)
    return list(session.scalars(stmt))


def get_unmatched(session: Session, item_id: int) -> UnmatchedSender:
    item = session.get(UnmatchedSender, item_id)
    if item is None:
        raise NotFound(msg("no unmatched sender {item_id}", item_id=item_id), field="id")
    return item


def _check_open(item: UnmatchedSender) -> None:
    if item.status != "open":
        raise Conflict(
            msg(
                "unmatched sender {item_id} is {status} already",
                item_id=item.id,
                status=item.status,
            ),
            field="id",
        )


def _note(note: str) -> str | None:
    note = note.strip()
    check_text(note, "note")
    if len(note) > MAX_NOTE:
        raise InvalidInput(
            msg("a note is at most {maximum} characters", maximum=MAX_NOTE), field="note"
        )
    return note or None


def link_unmatched(
    session: Session, actor: Principal, item_id: int, target_id: int, note: str = ""
) -> UnmatchedSender:
    """Link the item's customer to ``target_id`` (an existing customer): appends a
    ``Customers Linked`` event with the strongest identifier of each, which identity
    resolves into a merge (the item turns ``linked`` when it has); audited. Not
    idempotent. Raises NotFound, Conflict, InvalidInput."""
    item = get_unmatched(session, item_id)
    _check_open(item)
    text = _note(note)
    try:
        target = current_customer_id(session, target_id)
    except NotFound as exc:
        raise NotFound(
            msg("no customer {customer_id}", customer_id=target_id), field="customer_id"
        ) from exc
    mine = current_customer_id(session, item.customer_id)
    if target == mine:
        raise InvalidInput("link it to another customer, not to itself", field="customer_id")
    ids = [_strongest(session, mine), _strongest(session, target)]
    if None in ids:
        raise Conflict("one of the customers has no identifier left to link", field="customer_id")
    _append_link(session, item, [i for i in ids if i is not None], actor)
    item.status, item.target_customer_id = "linking", target
    item.decided_by, item.decided_at, item.note = actor.actor, utcnow(), text
    audit.record(
        session,
        actor,
        "review.unmatched.link",
        target_type="customer",
        target_id=mine,
        detail={"into": target, "item_id": item.id},
    )
    session.flush()
    return item


def dismiss_unmatched(
    session: Session, actor: Principal, item_id: int, note: str = ""
) -> UnmatchedSender:
    """A genuinely new customer: the item closes; audited. Raises NotFound, Conflict."""
    item = get_unmatched(session, item_id)
    _check_open(item)
    item.status, item.decided_by, item.decided_at, item.note = (
        "dismissed",
        actor.actor,
        utcnow(),
        _note(note),
    )
    audit.record(
        session,
        actor,
        "review.unmatched.dismiss",
        target_type="customer",
        target_id=item.customer_id,
        detail={"item_id": item.id},
    )
    session.flush()
    return item


def _strongest(session: Session, customer_id: int) -> dict[str, str] | None:
    """The customer's strongest identifier, as an ``externalIds`` entry."""
    found = sorted(identifiers_of(session, customer_id), key=lambda i: (strength(i.type), i.id))
    if not found:
        return None
    best = found[0]
    entry = {"type": best.type, "id": best.value}
    if best.scope or best.type in SCOPED_TYPES:
        entry["collection"] = best.scope
    return entry


def _append_link(
    session: Session, item: UnmatchedSender, ids: list[dict[str, str]], actor: Principal
) -> None:
    source_id = ensure_source(session, LINK_SOURCE).id
    now = utcnow()
    message_id = f"review-link-{item.id}-{uuid.uuid4().hex}"
    payload: dict[str, Any] = {
        "type": "track",
        "event": LINKED,
        "messageId": message_id,
        "context": {"externalIds": ids, "channel": item.channel},
        "properties": {"unmatched_id": item.id, "linked_by": actor.actor},
        "timestamp": now.isoformat(),
    }
    event = LogEvent(
        source_id=source_id,
        message_id=message_id,
        type="track",
        name=LINKED,
        occurred_at=now,
        received_at=now,
        payload=payload,
    )
    append_rows(session, stored_rows([event]))
