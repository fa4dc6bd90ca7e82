"""Reading the ticket pages' forms and filters: text from a form or an address, turned
into what the tickets service takes (ids, choices, a customer found by identifier).
Bad input raises the service's errors, which the pages show in the reader's language."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput, NotFound, check_text
from omnicx.core.i18n import msg
from omnicx.customers.directory import customers_with_identifier, matching_customers
from omnicx.desk.tickets.listing import TicketFilters

FILTER_FIELDS = ("view", "status", "type", "priority", "team", "customer", "customer_id")
# A customer filter stands for at most this many customers (a common name matches many).
MAX_CUSTOMERS = 200


def number(text: str, field: str) -> int | None:
    """A record's number from a form ('' is none). Raises InvalidInput."""
    text = text.strip().lstrip("#")
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) <= 2**62:
        raise InvalidInput(msg("{field} must be a number", field=field), field=field)
    return int(text)


def filters_from(session: Session, f: dict[str, str]) -> TicketFilters:
    """The list's filters from the address's values; ``customer`` is an identifier or a
    name (the directory's search), ``customer_id`` one customer. Raises InvalidInput."""
    customer_ids: list[int] | None = None
    if f.get("customer", "").strip():
        text = f["customer"].strip()
        check_text(text, "customer")
        customer_ids = matching_customers(session, text, MAX_CUSTOMERS)
    one = number(f.get("customer_id", ""), "customer_id")
    if one is not None:
        customer_ids = [one] if customer_ids is None else [c for c in customer_ids if c == one]
    return TicketFilters(
        view=f.get("view") or "all",
        status=f.get("status") or None,
        type=f.get("type") or None,
        priority=f.get("priority") or None,
        team_id=number(f.get("team", ""), "team"),
        customer_ids=customer_ids,
    )


def customer_for(session: Session, identifier: str) -> int | None:
    """The customer a new ticket is for, by an identifier (phone, email, user id…); ''
    is none. Raises NotFound when nobody holds it."""
    identifier = identifier.strip()
    if not identifier:
        return None
    check_text(identifier, "customer")
    held = customers_with_identifier(session, identifier)
    if not held:
        raise NotFound(
            msg("no customer has the identifier {value}", value=identifier), field="customer"
        )
    return held[0]  # the strongest type first (a phone before a user id)


def changes_from(fields: dict[str, str | None]) -> dict[str, Any]:
    """``update_ticket``'s changes from a field form: only the fields the form sent; an
    empty owner or team means none."""
    changes: dict[str, Any] = {}
    for name in ("title", "status", "type", "priority"):
        value = fields.get(name)
        if value is not None:
            changes[name] = value.strip()
    for name, key in (("owner", "owner_id"), ("team", "team_id")):
        value = fields.get(name)
        if value is not None:
            changes[key] = number(value, name)
    if not changes:
        raise InvalidInput("nothing to change", field="body")
    return changes
