"""The access layer: every read of customer data is shaped here for the reader's role.

``view_for(session, principal)`` gives a ``RoleView`` — the role's policy compiled
against the field classification — which masks traits, event properties and identifier
values by key name (recursively) and by identifier type. Values are masked on the
server: a role that sees ``138****8000`` never receives the digits in between, in JSON,
HTML or anywhere else. Free text in fields nobody classified (a chat message, a note) is
scanned for phone numbers and e-mail addresses, which are masked for roles that do not
see personal data in plain. Names inside free text are not detected.

The audit helpers record who read which customer and which fields they saw unmasked —
field names and ids only, never values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from sqlalchemy.orm import Session

from omnicx.core.errors import Forbidden
from omnicx.core.settings import get_settings
from omnicx.governance import audit
from omnicx.governance.permissions import Permission
from omnicx.governance.policies import (
    Classification,
    ClassRule,
    Display,
    FieldClass,
    FieldRule,
    MaskStyle,
    PolicyDocument,
    RolePolicy,
    current_document,
    normalize_key,
)
from omnicx.governance.service import Principal

STARS = "****"

# -- masking values ---------------------------------------------------------------------------


def _mask_digits(digits: str) -> str:
    """Keep a few leading and trailing digits, hide at least four."""
    tail = 4 if len(digits) >= 10 else 2
    head = max(0, min(3, len(digits) - tail - 4))
    if len(digits) < 6:
        return "*" * len(digits) if digits else STARS
    return digits[:head] + "*" * (len(digits) - head - tail) + digits[len(digits) - tail :]


def mask_phone(value: str) -> str:
    """``13812348000`` → ``138****8000``; ``+8613812348000`` → ``+86 138****8000``."""
    text = value.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
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


# -- classification ---------------------------------------------------------------------------

Path = tuple[str, ...]
PUBLIC_FIELD = FieldRule(field_class=FieldClass.PUBLIC)


def _stricter(inherited: FieldRule, own: FieldRule) -> FieldRule:
    """A child of a personal field is personal too, whatever its own name says."""
    return own if own.field_class.rank >= inherited.field_class.rank else inherited


class Classifier:
    """Looks up the class of a key by its path, most specific entry first:
    ``traits.address.city``, ``address.city``, ``traits.city``, ``city``."""

    def __init__(self, classification: Classification):
        self.fields = classification.fields
        self.unknown_key = FieldRule(field_class=classification.unknown_keys)
        self.unknown_identifier = FieldRule(field_class=classification.unknown_identifier_types)
        self._keys: dict[tuple[str, Path], FieldRule] = {}

    def key(self, namespace: str, path: Path) -> FieldRule:
        cached = self._keys.get((namespace, path))
        if cached is not None:
            return cached
        dotted = ".".join(path)
        rule = self.unknown_key
        for candidate in (f"{namespace}.{dotted}", dotted, f"{namespace}.{path[-1]}", path[-1]):
            found = self.fields.get(candidate)
            if found is not None:
                rule = found
                break
        if len(self._keys) > 20_000:
            self._keys.clear()
        self._keys[(namespace, path)] = rule
        return rule

    def identifier(self, kind: str) -> FieldRule:
        kind = normalize_key(kind)
        found = self.fields.get(f"identifiers.{kind}") or self.fields.get(kind)
        return found or self.unknown_identifier


# -- one role's view --------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """How one non-public field was shown to the reader (for the UI and the audit log)."""

    field: str  # "traits.phone", "identifiers.12"
    field_class: FieldClass
    display: Display
    revealable: bool


class RoleView:
    """A role's policy compiled against the classification: masks what the role reads."""

    def __init__(self, role: str, policy: RolePolicy, classifier: Classifier):
        self.role = role
        self.policy = policy
        self.classifier = classifier
        # Free text is scanned only for roles that do not see personal data in plain.
        self.masks_text = policy.personal.display is not Display.PLAIN

    @property
    def orders_limit(self) -> int | None:
        return self.policy.orders_limit

    @property
    def timeline_limit(self) -> int | None:
        return self.policy.timeline_limit

    def rule(self, field_class: FieldClass) -> ClassRule:
        return self.policy.rule(field_class)

    def may_reveal(self, field_class: FieldClass) -> bool:
        rule = self.rule(field_class)
        return rule.display is Display.PLAIN or rule.revealable

    # masking of nested JSON (traits, event properties)
    def _walk(self, value: Any, namespace: str, path: Path, rule: FieldRule) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                sub = (*path, normalize_key(str(key)))
                effective = _stricter(rule, self.classifier.key(namespace, sub))
                if self.rule(effective.field_class).display is Display.HIDDEN:
                    continue
                out[key] = self._walk(item, namespace, sub, effective)
            return out
        if isinstance(value, list):
            return [self._walk(item, namespace, path, rule) for item in value]
        if self.rule(rule.field_class).display is Display.MASKED:
            return mask_value(value, rule.mask)
        if self.masks_text and isinstance(value, str) and rule.field_class is FieldClass.PUBLIC:
            return mask_text(value)
        return value

    def _strictest(self, value: Any, namespace: str, path: Path, rule: FieldRule) -> FieldClass:
        found = rule.field_class
        if isinstance(value, dict):
            for key, item in value.items():
                sub = (*path, normalize_key(str(key)))
                effective = _stricter(rule, self.classifier.key(namespace, sub))
                inner = self._strictest(item, namespace, sub, effective)
                found = inner if inner.rank > found.rank else found
        elif isinstance(value, list):
            for item in value:
                inner = self._strictest(item, namespace, path, rule)
                found = inner if inner.rank > found.rank else found
        return found

    def field_class_of_trait(self, key: str, value: Any) -> FieldClass:
        """The strictest class inside one trait (what revealing it would expose)."""
        path = (normalize_key(key),)
        rule = self.classifier.key("traits", path)
        return self._strictest(value, "traits", path, rule)

    def traits(self, traits: dict[str, Any]) -> tuple[dict[str, Any], list[Shown]]:
        """Traits as this role sees them, and how each non-public trait was shown."""
        shown: list[Shown] = []
        for key, value in traits.items():
            field_class = self.field_class_of_trait(key, value)
            if field_class is not FieldClass.PUBLIC:
                rule = self.rule(field_class)
                shown.append(Shown(f"traits.{key}", field_class, rule.display, rule.revealable))
        return self._walk(traits, "traits", (), PUBLIC_FIELD), shown

    def properties(self, properties: dict[str, Any], namespace: str = "properties") -> Any:
        """Event properties (``namespace="traits"`` for an identify call's traits)."""
        return self._walk(properties, namespace, (), PUBLIC_FIELD)

    def text(self, value: str) -> str:
        return mask_text(value) if self.masks_text else value

    def identifier(self, identifier_id: int, kind: str, value: str) -> tuple[str | None, Shown]:
        """An identifier's value as shown (None: hidden), and how it was shown."""
        rule = self.classifier.identifier(kind)
        access = self.rule(rule.field_class)
        shown = Shown(
            f"identifiers.{identifier_id}", rule.field_class, access.display, access.revealable
        )
        if access.display is Display.HIDDEN:
            return None, shown
        if access.display is Display.MASKED:
            style = rule.mask
            if style is MaskStyle.AUTO:
                style = {"phone": MaskStyle.PHONE, "email": MaskStyle.EMAIL}.get(
                    kind, MaskStyle.PARTIAL
                )
            return mask_value(value, style), shown
        return value, shown


# Analytics sees public fields only, whatever any role's policy says.
PUBLIC_ONLY = RolePolicy(
    personal=ClassRule(display=Display.HIDDEN),
    sensitive=ClassRule(display=Display.HIDDEN),
    orders_limit=0,
    timeline_limit=0,
)


class _Views:
    """Compiled views of the current policy document, recompiled when it changes."""

    def __init__(self) -> None:
        self.document: PolicyDocument | None = None
        self.views: dict[str, RoleView] = {}
        self.public: RoleView | None = None

    def of(self, document: PolicyDocument) -> _Views:
        if document is not self.document:
            classifier = Classifier(document.classification)
            self.views = {
                role: RoleView(role, policy, classifier) for role, policy in document.roles.items()
            }
            self.public = RoleView("public", PUBLIC_ONLY, classifier)
            self.document = document
        return self


_views = _Views()


def view_for(session: Session, principal: Principal) -> RoleView:
    """How ``principal`` sees customer data (policy cached; see ``policies``)."""
    views = _views.of(current_document(session))
    view = views.views.get(principal.role)
    if view is None:
        raise Forbidden(f"the {principal.role} role has no access policy")
    return view


def public_view(session: Session) -> RoleView:
    """Public fields only, free text scanned: what aggregates and analysts see."""
    views = _views.of(current_document(session))
    assert views.public is not None
    return views.public


# -- pseudonymous ids -------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _pseudonym_key(secret: str) -> bytes:
    return hashlib.sha256(b"omnicx-pseudonym:" + secret.encode()).digest()


def pseudonym(customer_id: int) -> str:
    """A stable id for a customer that does not reveal which customer it is (keyed HMAC
    of the id, 80 bits): analysts can count and join, not look someone up."""
    key = _pseudonym_key(get_settings().secret_key.get_secret_value())
    digest = hmac.new(key, str(customer_id).encode(), hashlib.sha256).digest()[:10]
    return "p_" + base64.b32encode(digest).decode().lower()


# -- reveal and audit -------------------------------------------------------------------------


def check_reveal(principal: Principal, view: RoleView, field: str, field_class: FieldClass) -> None:
    """Raise Forbidden unless the role may see ``field`` (of ``field_class``) in plain."""
    if not principal.may(Permission.CUSTOMERS_REVEAL):
        raise Forbidden(f"the {principal.role} role may not reveal fields")
    if not view.may_reveal(field_class):
        raise Forbidden(
            f"the {principal.role} role may not reveal {field_class.value} fields", field=field
        )


def unmasked_fields(shown: Iterable[Shown]) -> list[str]:
    return sorted(s.field for s in shown if s.display is Display.PLAIN)


def record_view(
    session: Session,
    principal: Principal,
    customer_id: int,
    *,
    via: str,
    shown: Sequence[Shown] = (),
    personal_in_plain: bool | None = None,
    ip: str | None = None,
) -> None:
    """Audit one read of a customer (``customer.view``): where, and which protected
    fields were shown unmasked (names only)."""
    plain = unmasked_fields(shown)
    unmasked = bool(plain) if personal_in_plain is None else personal_in_plain or bool(plain)
    audit.record(
        session,
        principal,
        "customer.view",
        target_type="customer",
        target_id=customer_id,
        detail={"via": via, "unmasked": unmasked, "fields": plain[:50]},
        ip=ip,
    )


def record_reveal(
    session: Session,
    principal: Principal,
    customer_id: int,
    *,
    field: str,
    field_class: FieldClass,
    reason: str,
    ip: str | None = None,
) -> None:
    """Audit a reveal (``customer.reveal``) with the field's name and the reason."""
    audit.record(
        session,
        principal,
        "customer.reveal",
        target_type="customer",
        target_id=customer_id,
        detail={"field": field, "class": field_class.value, "reason": reason},
        ip=ip,
    )


def record_export(
    session: Session,
    principal: Principal,
    *,
    rows: int,
    via: str,
    filters: dict[str, Any],
    ip: str | None = None,
) -> None:
    """Audit an export (``customers.export``): how many rows, with which filters."""
    audit.record(
        session,
        principal,
        "customers.export",
        target_type="customer",
        detail={"via": via, "rows": rows, "filters": filters},
        ip=ip,
    )
