"""Who an unmatched sender may be: each suggestion with the reasons for it.

Honest and explainable only, from what can be looked up without reading personal data
in plain: the same name (the name blind index, ``customers.search``), and a phone number
or e-mail address the sender wrote in their first messages that an existing customer
holds (looked up by identifier, normalised as ingest does, so ``138 0013 8000`` and
``+86 138-0013-8000`` are the same number). Values shown in a reason go through the
reader's role view (masked as identifiers are).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput, NotFound
from omnicx.core.settings import get_settings
from omnicx.customers.search import customers_named, name_of
from omnicx.customers.service import customer_traits
from omnicx.desk.models import Message
from omnicx.desk.review.models import UnmatchedSender
from omnicx.governance.access import RoleView
from omnicx.identity.normalize import InvalidIdentifier, normalize
from omnicx.identity.service import (
    current_customer_id,
    current_customer_ids,
    find_customer_by_identifier,
)

PHONE_IN_TEXT = re.compile(r"(?<![\d+])(\+?\d[\d\s\-()]{6,18}\d)(?!\d)")
EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
MESSAGES_READ = 5
MAX_SUGGESTIONS = 5


@dataclass
class Suggestion:
    customer_id: int
    # (code, shown value or None): same_name, mentioned_phone, mentioned_email
    reasons: list[tuple[str, str | None]] = field(default_factory=list)


def suggest(session: Session, view: RoleView, item: UnmatchedSender) -> list[Suggestion]:
    """Existing customers the item's sender may be, strongest reason first."""
    try:
        mine = current_customer_id(session, item.customer_id)
    except NotFound:
        return []
    found: dict[int, Suggestion] = {}

    def add(customer_id: int, code: str, value: str | None) -> None:
        if customer_id == mine:
            return
        suggestion = found.setdefault(customer_id, Suggestion(customer_id))
        if (code, value) not in suggestion.reasons:
            suggestion.reasons.append((code, value))

    for kind, raw in _mentioned(session, item):
        try:
            owner = find_customer_by_identifier(session, kind, raw)
        except (NotFound, InvalidInput):
            continue
        try:
            value = normalize(kind, raw, get_settings().default_phone_region)
        except InvalidIdentifier:
            continue
        shown, _ = view.identifier(0, kind, value)
        add(owner, f"mentioned_{kind}", shown)
    name = name_of(customer_traits(session, mine)).strip()
    if name:
        try:
            named = customers_named(session, name, MAX_SUGGESTIONS + 1)
        except InvalidInput:
            named = []  # a name too short to search by (one character)
        survivors = current_customer_ids(session, named) if named else {}
        for customer_id in named:
            add(survivors.get(customer_id, customer_id), "same_name", None)
    ranked = sorted(
        found.values(),
        key=lambda s: (-len(s.reasons), s.reasons[0][0] == "same_name", -s.customer_id),
    )
    return ranked[:MAX_SUGGESTIONS]


def _mentioned(session: Session, item: UnmatchedSender) -> list[tuple[str, str]]:
    """Phones and e-mail addresses written in the sender's first messages."""
    if item.conversation_id is None:
        return []
    texts = session.scalars(
        select(Message.text)
        .where(Message.conversation_id == item.conversation_id, Message.direction == "in")
        .order_by(Message.id)
        .limit(MESSAGES_READ)
    ).all()
    found: list[tuple[str, str]] = []
    for text in texts:
        for match in EMAIL_IN_TEXT.finditer(text or ""):
            found.append(("email", match.group(0)))
        for match in PHONE_IN_TEXT.finditer(EMAIL_IN_TEXT.sub(" ", text or "")):
            found.append(("phone", match.group(1)))
    return list(dict.fromkeys(found))
