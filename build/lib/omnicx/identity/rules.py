"""Identifier types, their strength, which are unique, and the guardrails."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from omnicx.core.settings import Settings

# Stronger identifiers first: the strongest one of an event anchors its links and decides
# which customer the event belongs to if identifiers ever point at two customers.
STRENGTH: dict[str, int] = {
    "user_id": 0,
    "wechat_unionid": 1,
    "email": 2,
    "phone": 3,
    "wechat_openid": 4,
    "device_id": 6,
    "anonymous_id": 7,
}
CUSTOM_STRENGTH = 5
BUILTIN_TYPES = tuple(STRENGTH)

# A person has at most one value of these per scope: two different values never merge
# automatically; the conflict goes to the review queue.
UNIQUE_TYPES = frozenset({"user_id", "wechat_unionid", "wechat_openid"})

DEFAULT_LIMITS: dict[str, int] = {
    "email": 10,
    "phone": 10,
    "device_id": 50,
    "anonymous_id": 500,
}
CUSTOM_LIMIT = 20

# Junk that clients send when they have no value; never an identity (after normalisation).
DEFAULT_BLOCKED_VALUES = frozenset(
    {
        "",
        "null",
        "none",
        "nil",
        "undefined",
        "nan",
        "0",
        "-1",
        "n/a",
        "na",
        "unknown",
        "anonymous",
        "guest",
        "test",
        "user",
        "[object object]",
        "true",
        "false",
        "00000000-0000-0000-0000-000000000000",
        "test@test.com",
        "test@example.com",
        "example@example.com",
        "noreply@example.com",
        "a@a.com",
        "no@email.com",
        "+8600000000000",
        "+10000000000",
    }
)


def strength(kind: str) -> int:
    return STRENGTH.get(kind, CUSTOM_STRENGTH)


@dataclass(frozen=True)
class Guardrails:
    blocked: frozenset[str]
    limits: dict[str, int]

    @classmethod
    def from_settings(cls, settings: Settings) -> Guardrails:
        blocked = DEFAULT_BLOCKED_VALUES | {
            v.strip().lower() for v in settings.blocked_identifier_values
        }
        return cls(
            blocked=frozenset(blocked), limits={**DEFAULT_LIMITS, **settings.identifier_limits}
        )

    def is_blocked(self, value: str) -> bool:
        return value.lower() in self.blocked

    def limit(self, kind: str) -> int:
        if kind in UNIQUE_TYPES:
            return 1
        return self.limits.get(kind, CUSTOM_LIMIT)

    def violation(self, members: Iterable[tuple[str, str, bytes]]) -> str | None:
        """Why a set of (type, scope, key_hash) cannot be one person, or None if it can."""
        per_type: dict[tuple[str, str], set[bytes]] = {}
        for kind, scope, key in members:
            bucket = (kind, scope) if kind in UNIQUE_TYPES else (kind, "")
            per_type.setdefault(bucket, set()).add(key)
        for (kind, scope), keys in per_type.items():
            if len(keys) > self.limit(kind):
                if kind in UNIQUE_TYPES:
                    where = f" in scope {scope!r}" if scope else ""
                    return f"two different {kind} values{where}"
                return f"more than {self.limit(kind)} {kind} identifiers"
        return None
