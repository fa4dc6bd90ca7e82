"""How the UI names the values OmniCX stores as identifiers: roles, consent purposes and
channels, privacy request kinds and statuses, the desk's statuses, priorities and states.

The stored value stays the identifier (forms post it, the API returns it); a person reads
its label in their language (``{{ user.role|label("role") }}``). The English label is the
identifier itself, so English pages read as before.
"""

from __future__ import annotations

from jinja2 import pass_context
from jinja2.runtime import Context

from omnicx.core.i18n import DEFAULT_LANGUAGE, Message, msg

# Conversations and tickets share their priorities (desk.models.PRIORITIES).
PRIORITY = {
    "low": msg("low"),
    "normal": msg("normal"),
    "high": msg("high"),
    "urgent": msg("urgent"),
}

LABELS: dict[str, dict[str, Message]] = {
    "role": {
        "admin": msg("admin"),
        "supervisor": msg("supervisor"),
        "senior_agent": msg("senior_agent"),
        "agent": msg("agent"),
        "analyst": msg("analyst"),
    },
    "purpose": {
        "service": msg("service"),
        "marketing": msg("marketing"),
        "analytics": msg("analytics"),
    },
    "channel": {
        "*": msg("every channel"),
        "email": msg("email"),
        "sms": msg("sms"),
        "wechat": msg("wechat"),
        "phone": msg("phone"),
        "web": msg("web"),
        "app": msg("app"),
        "server": msg("server"),
        "webchat": msg("web chat"),
        "api": msg("api"),
    },
    # Where a consent decision came from (governance.consent.SOURCES).
    "consent_source": {
        "event": msg("event"),
        "ui": msg("ui"),
        "api": msg("api"),
        "cli": msg("cli"),
    },
    "privacy_kind": {"export": msg("export"), "erase": msg("erase")},
    "privacy_status": {
        "received": msg("received"),
        "in_progress": msg("in_progress"),
        "completed": msg("completed"),
        "failed": msg("failed"),
    },
    "ticket_status": {
        "new": msg("new"),
        "open": msg("open"),
        "pending": msg("pending"),
        "resolved": msg("resolved"),
        "closed": msg("closed"),
    },
    # An order's latest event, which the customer views show as its status.
    "order_event": {
        "Order Completed": msg("Order Completed"),
        "Order Updated": msg("Order Updated"),
        "Order Shipped": msg("Order Shipped"),
        "Order Cancelled": msg("Order Cancelled"),
        "Order Refunded": msg("Order Refunded"),
    },
    # The service desk (desk.models, desk.tickets.models, desk.sla.models).
    "conversation_status": {
        "bot": msg("with the bot"),
        "open": msg("open"),
        "pending": msg("pending"),
        "snoozed": msg("snoozed"),
        "resolved": msg("resolved"),
    },
    "priority": PRIORITY,
    # Labels the desk sets itself (desk.calls); agents' own labels are shown as written.
    "conversation_label": {"callback": msg("needs callback")},
    "presence": {"online": msg("online"), "away": msg("away"), "offline": msg("offline")},
    # A message's delivery state (desk.delivery).
    "delivery": {
        "received": msg("received"),
        "sent": msg("sent"),
        "queued": msg("queued"),
        "delivered": msg("delivered"),
        "failed": msg("failed"),
        "refused": msg("refused"),
        "internal": msg("internal"),
    },
    "ticket_type": {
        "inquiry": msg("inquiry"),
        "complaint": msg("complaint"),
        "after_sales": msg("after_sales"),
        "invoice": msg("invoice"),
        "repair": msg("repair"),
        "other": msg("other"),
    },
    "ticket_priority": PRIORITY,
    # The fields a ticket's history names.
    "ticket_field": {
        "title": msg("title"),
        "status": msg("status"),
        "type": msg("type"),
        "priority": msg("priority"),
        "owner_id": msg("owner"),
        "team_id": msg("team"),
    },
    "sla_metric": {
        "first_response": msg("first response"),
        "next_response": msg("next response"),
        "resolution": msg("resolution"),
    },
    # An SLA clock's state (desk.sla.models.CLOCK_STATES).
    "sla_state": {
        "running": msg("running"),
        "met": msg("met"),
        "at_risk": msg("at risk"),
        "breached": msg("breached"),
        "cancelled": msg("cancelled"),
    },
}


def label_in(language: str, vocabulary: str, value: str) -> str:
    """The label of ``value`` in ``vocabulary`` in ``language``; an unknown value as it is."""
    known = LABELS[vocabulary].get(value)
    return known.in_language(language) if known is not None else value


@pass_context
def label_filter(context: Context, value: object, vocabulary: str) -> object:
    """The label of ``value`` in ``vocabulary``; an unknown value is shown as it is."""
    if value is None or str(value) not in LABELS[vocabulary]:
        return value
    return label_in(str(context.get("language") or DEFAULT_LANGUAGE), vocabulary, str(value))
