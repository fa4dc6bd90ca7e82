"""Normalise raw identifier values so that one person's value always looks the same."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

MAX_VALUE_LENGTH = 500
CUSTOM_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Names clients use in Segment externalIds for our built-in types.
TYPE_ALIASES = {
    "userid": "user_id",
    "user_id": "user_id",
    "crm_id": "user_id",
    "anonymousid": "anonymous_id",
    "anonymous_id": "anonymous_id",
    "email": "email",
    "phone": "phone",
    "mobile": "phone",
    "device_id": "device_id",
    "deviceid": "device_id",
    "wechat_openid": "wechat_openid",
    "openid": "wechat_openid",
    "wechat_unionid": "wechat_unionid",
    "unionid": "wechat_unionid",
}


class InvalidIdentifier(ValueError):
    """The value cannot be an identifier of that type (reason in the message)."""


def canonical_type(raw: str) -> str:
    """Map a client's type name to ours; unknown names become custom types."""
    key = raw.strip().lower().replace("-", "_").replace(" ", "_")
    kind = TYPE_ALIASES.get(key, key)
    if not CUSTOM_TYPE.match(kind):
        raise InvalidIdentifier(f"identifier type {raw!r} must be letters, digits or _")
    return kind


@lru_cache(maxsize=200_000)
def normalize_phone(raw: str, region: str) -> str:
    """E.164, e.g. ``138 0013 8000`` with region CN → ``+8613800138000``."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    value = raw.strip().lower()
    if not EMAIL.match(value):
        raise InvalidIdentifier("not an email address")
    return value


def normalize(kind: str, raw: object, region: str) -> str:
    """The normalised value of ``raw`` as an identifier of ``kind``."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise InvalidIdentifier(f"{kind} must be a string")
    text = str(raw).strip()
    if not text:
        raise InvalidIdentifier(f"{kind} is empty")
    if "\x00" in text:
        # No real identifier holds a NUL, and PostgreSQL text columns cannot store one.
        raise InvalidIdentifier(f"{kind} contains a NUL character")
    if len(text) > MAX_VALUE_LENGTH:
        raise InvalidIdentifier(f"{kind} is longer than {MAX_VALUE_LENGTH} characters")
    if kind == "phone":
        return normalize_phone(text, region)
    if kind == "email":
        return normalize_email(text)
    return text


def normalize_scope(raw: object) -> str:
    return str(raw).strip()[:100] if raw not in (None, "") else ""
