"""How the UI names the values OmniCX stores as identifiers: roles, consent purposes and
channels, privacy request kinds and statuses, conversation statuses, priorities and SLA
states.

The stored value stays the identifier (forms post it, the API returns it); a person reads
its label in their language (``{{ user.role|label("role") }}``). The English label is the
identifier itself, so English pages read as before.
"""

from __future__ import annotations

from jinja2 import pass_context
from jinja2.runtime import Context

from omnicx.core.i18n import DEFAULT_LANGUAGE, Message, msg

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
    # The desk: a conversation's status and priority, an SLA clock's state.
    "conversation_status": {
        "bot": msg("with the bot"),
        "open": msg("open"),
        "pending": msg("pending"),
        "snoozed": msg("snoozed"),
        "resolved": msg("resolved"),
    },
    "priority": {
        "low": msg("low"),
        "normal": msg("normal"),
        "high": msg("high"),
        "urgent": msg("urgent"),
    },
    "sla": {"at_risk": msg("at risk"), "breached": msg("breached")},
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
}


@pass_context
def label_filter(context: Context, value: object, vocabulary: str) -> object:
    """The label of ``value`` in ``vocabulary``; an unknown value is shown as it is."""
    known = LABELS[vocabulary].get(str(value)) if value is not None else None
    if known is None:
        return value
    return known.in_language(str(context.get("language") or DEFAULT_LANGUAGE))
