"""Opt-out keywords: a person who texts ``STOP``, ``UNSUBSCRIBE``, ``退订`` or ``TD``
withdraws their consent to marketing texts, ``START`` gives it again; each is confirmed
to them in a text.

The decision travels with the message on the log, as Segment traits carry consent
(``context.traits.consent`` = ``{"marketing": {"sms": false}}``): the consent processor
records it for the customer the message belongs to (``customers.consent``), so it
follows merges and replays like any other decision the person's events carry, and the
outbox's gate refuses a marketing text from then on.
"""

from __future__ import annotations

from omnicx.core.i18n import Message, msg

# Keyword (upper-cased, trimmed) → whether it grants SMS marketing.
KEYWORDS = {"STOP": False, "UNSUBSCRIBE": False, "退订": False, "TD": False, "START": True}
CHINESE_KEYWORDS = frozenset({"退订", "TD"})
CONFIRMATIONS = {
    False: msg(
        "You will no longer receive marketing text messages from us. Reply START to "
        "receive them again."
    ),
    True: msg(
        "You will receive our marketing text messages again. Reply STOP (or TD) to unsubscribe."
    ),
}


def keyword_of(text: str) -> str | None:
    """The opt-out or opt-in keyword the whole text is, or None."""
    word = text.strip().upper()
    return word if word in KEYWORDS else None


def consent_for(keyword: str) -> dict[str, dict[str, bool]]:
    """What the keyword says, as consent traits."""
    return {"marketing": {"sms": KEYWORDS[keyword]}}


def confirmation(keyword: str) -> Message:
    return CONFIRMATIONS[KEYWORDS[keyword]]


def confirmation_language(keyword: str, sender: str) -> str:
    """Chinese for a Chinese keyword or a mainland number, English otherwise."""
    return "zh-CN" if keyword in CHINESE_KEYWORDS or sender.startswith("+86") else "en"
