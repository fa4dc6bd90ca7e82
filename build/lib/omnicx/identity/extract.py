"""Which identifiers a Segment-shaped event carries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from omnicx.core.settings import get_settings
from omnicx.governance.blind_index import blind_index
from omnicx.identity.normalize import InvalidIdentifier, canonical_type, normalize, normalize_scope
from omnicx.identity.rules import Guardrails, strength

# Scoped types: the same openid string in two WeChat apps is two different people.
SCOPED_TYPES = frozenset({"wechat_openid", "wechat_unionid"})
UNSCOPED_TYPES = frozenset({"user_id", "anonymous_id", "email", "phone", "device_id"})


@dataclass(frozen=True, slots=True)
class Candidate:
    """A normalised identifier found in an event, with its blind index."""

    type: str
    scope: str
    value: str
    key_hash: bytes

    @property
    def strength(self) -> int:
        return strength(self.type)


def raw_identifiers(event_type: str, payload: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(type, scope, raw value) for every place an identifier can sit in an event."""
    if payload.get("userId") not in (None, ""):
        yield "user_id", "", payload["userId"]
    if payload.get("anonymousId") not in (None, ""):
        yield "anonymous_id", "", payload["anonymousId"]
    if event_type == "alias" and payload.get("previousId") not in (None, ""):
        # Segment's previousId is usually the anonymous id the user had before signing in.
        yield "anonymous_id", "", payload["previousId"]
    context = payload.get("context")
    context = context if isinstance(context, dict) else {}
    for traits in (
        payload.get("traits") if event_type == "identify" else None,
        context.get("traits"),
    ):
        if isinstance(traits, dict):
            for key, kind in (("email", "email"), ("phone", "phone"), ("mobile", "phone")):
                if traits.get(key) not in (None, ""):
                    yield kind, "", traits[key]
    device = context.get("device")
    if isinstance(device, dict) and device.get("id") not in (None, ""):
        yield "device_id", "", device["id"]
    external = context.get("externalIds")
    if isinstance(external, list):
        for item in external:
            if isinstance(item, dict) and item.get("id") not in (None, "") and item.get("type"):
                yield str(item["type"]), str(item.get("collection") or ""), item["id"]


def extract_identifiers(
    event_type: str, payload: dict[str, Any], guardrails: Guardrails, region: str
) -> list[Candidate]:
    """Normalised, deduplicated identifiers of an event, strongest first.

    Invalid and blocked values are skipped: they never link anything.
    """
    secret = get_settings().blind_index_key.get_secret_value()
    found: dict[bytes, Candidate] = {}
    for raw_type, raw_scope, raw_value in raw_identifiers(event_type, payload):
        if not isinstance(raw_value, str | int | float) or isinstance(raw_value, bool):
            continue  # not an identifier value (an object, a list, true/false)
        candidate = candidate_of(raw_type, raw_scope, raw_value, region, secret)
        if candidate is None or guardrails.is_blocked(candidate.value):
            continue
        found.setdefault(candidate.key_hash, candidate)
    return sorted(found.values(), key=lambda c: (c.strength, c.key_hash))


@lru_cache(maxsize=262_144)
def candidate_of(
    raw_type: str, raw_scope: str, raw_value: str | int | float, region: str, secret: str
) -> Candidate | None:
    """Normalise and hash one raw identifier, or None if it is not a valid one.

    Pure in its arguments (the key is one of them), so cached: the same people's
    identifiers come back event after event.
    """
    try:
        kind = canonical_type(raw_type)
        value = normalize(kind, raw_value, region)
    except InvalidIdentifier:
        return None
    scoped = kind in SCOPED_TYPES or kind not in UNSCOPED_TYPES
    scope = normalize_scope(raw_scope) if scoped else ""
    return Candidate(kind, scope, value, blind_index(kind, scope, value))
