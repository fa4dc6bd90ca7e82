"""Masking values: ``13812348000`` → ``138****8000``, ``zhang.wei@example.com`` →
``z***@example.com``, and phone numbers and e-mail addresses inside free text.

Pure functions of the value and a ``MaskStyle``, apart from the access layer
(``access``) that decides which field gets which style for which role: they are tested
and reused on their own (the identity API shows ``STARS`` for a hidden value).
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from omnicx.governance.policies import MaskStyle

STARS = "****"


def _mask_digits(digits: str) -> str:
    """Keep a few leading and trailing digits, hide at least four."""
    tail = 4 if len(digits) >= 10 else 2
    head = max(0, min(3, len(digits) - tail - 4))
    if len(digits) < 6:
        return "*" * len(digits) if digits else STARS
    return digits[:head] + "*" * (len(digits) - head - tail) + digits[len(digits) - tail :]


_INTERNATIONAL = re.compile(r"\+[1-9][0-9 -]{6,20}")  # +digits, spaces and dashes only


def mask_phone(value: str) -> str:
    """``13812348000`` → ``138****8000``; ``+8613812348000`` → ``+86 138****8000``."""
    text = value.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if _INTERNATIONAL.fullmatch(text):
        # The country code is the one prefix of 1-3 digits that is a country code (they
        # form a prefix code): no full parse on every read of a phone. The national
        # number is taken as a number, as the parse below does (Italy's leading 0 goes).
        for size in (1, 2, 3):
            if int(digits[:size]) in COUNTRY_CODE_TO_REGION_CODE:
                return f"+{digits[:size]} {_mask_digits(str(int(digits[size:])))}"
    if text.startswith("+"):
        try:
            parsed = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            return "+" + _mask_digits(digits)
        return f"+{parsed.country_code} {_mask_digits(str(parsed.national_number))}"
    return _mask_digits(digits)


def mask_email(value: str) -> str:
    """``zhang.wei@example.com`` → ``z***@example.com``."""
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or not domain:
        return mask_partial(value)
    return f"{local[0]}***@{domain}"


def _has_cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def mask_name(value: str) -> str:
    """``张伟`` → ``张*``; ``John Smith`` → ``J*** Smith`` (the family name stays)."""
    text = value.strip()
    if not text:
        return text
    if _has_cjk(text):
        compact = text.replace(" ", "")
        return "*" if len(compact) == 1 else compact[0] + "*" * (len(compact) - 1)
    parts = text.split()
    if len(parts) == 1:
        return parts[0][0] + "***"
    return " ".join(part[0] + "***" for part in parts[:-1]) + " " + parts[-1]


_DATE = re.compile(r"^\s*(\d{4})[-/.]\d{1,2}[-/.]\d{1,2}")


def mask_date(value: str) -> str:
    """``1990-03-15`` → ``1990-**-**`` (the year says the age group, not the person)."""
    match = _DATE.match(value)
    return f"{match.group(1)}-**-**" if match else mask_partial(value)


def mask_address(value: str) -> str:
    """Chinese addresses keep the city they start with; others the town they end with."""
    text = value.strip()
    if _has_cjk(text):
        return text[:3] + STARS if len(text) > 3 else STARS
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return f"{STARS}, {parts[-1]}" if len(parts) > 1 else STARS


def mask_partial(value: str) -> str:
    """``oX1a9f...Zk2`` → ``oX****k2``; short values are hidden entirely."""
    text = value.strip()
    if len(text) <= 6:
        return STARS
    return text[:2] + STARS + text[-2:]


_PHONE_SHAPE = re.compile(r"^\+?[\d\s().-]{7,}$")
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
# Phone numbers inside free text: international (+…), Chinese mobiles, and national
# numbers written with separators (212-555-1234). Bare digit runs of other lengths are
# order and tracking numbers far more often than phones, so they are left alone.
_PHONE_IN_TEXT = (
    r"\+\d{1,3}(?:[\s.-]?\(?\d+\)?){1,5}"
    r"|(?<!\d)1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)"
    r"|(?<![\w(])\(?\d{3}\)?[\s.-]\d{3,4}[\s.-]\d{4}(?!\d)"
)
_IN_TEXT = re.compile(f"(?P<email>{_EMAIL})|(?P<phone>{_PHONE_IN_TEXT})")


def _mask_match(match: re.Match[str]) -> str:
    found = match.group(0)
    if match.group("email"):
        return mask_email(found)
    digits = sum(ch.isdigit() for ch in found)
    return mask_phone(found) if 7 <= digits <= 15 else found


def mask_text(value: str) -> str:
    """Mask the phone numbers and e-mail addresses inside free text."""
    return _IN_TEXT.sub(_mask_match, value)


def mask_value(value: Any, style: MaskStyle) -> Any:
    """One value masked in ``style``; None stays None, other scalars become text."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if style is MaskStyle.AUTO:
        if "@" in text and re.fullmatch(_EMAIL, text.strip()):
            style = MaskStyle.EMAIL
        elif _DATE.match(text):
            style = MaskStyle.DATE
        elif _PHONE_SHAPE.match(text.strip()):
            style = MaskStyle.PHONE
        else:
            style = MaskStyle.PARTIAL
    return _MASKERS[style](text)


_MASKERS = {
    MaskStyle.PHONE: mask_phone,
    MaskStyle.EMAIL: mask_email,
    MaskStyle.NAME: mask_name,
    MaskStyle.DATE: mask_date,
    MaskStyle.ADDRESS: mask_address,
    MaskStyle.PARTIAL: mask_partial,
    MaskStyle.FULL: lambda _text: STARS,
}
