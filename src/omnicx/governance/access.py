"""The access layer: every read of customer data is shaped here for the reader's role.

``view_for(session, principal)`` gives a ``RoleView`` — the role's policy compiled
against the field classification — which masks traits, event properties and identifier
values by key name (recursively) and by identifier type. Values are masked on the
server: a role that sees ``138****8000`` never receives the digits in between, in JSON,
HTML or anywhere else. Free text in fields nobody classified (a chat message, a note) is
scanned for phone numbers and e-mail addresses, which are masked for roles that do not
see personal data in plain. Names inside free text are not detected. The masking of one
value (``mask_phone``, ``mask_text`` …) is in ``masking``.

The audit helpers record who read which customer and which fields they saw unmasked —
field names and ids only, never values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from omnicx.core.errors import Forbidden
from omnicx.core.i18n import msg
from omnicx.core.settings import get_settings
from omnicx.governance import audit
from omnicx.governance.classifier import PUBLIC_FIELD, Classifier, Path, stricter
from omnicx.governance.masking import mask_text, mask_value
from omnicx.governance.permissions import Permission
from omnicx.governance.policies import (
    ClassRule,
    Display,
    FieldClass,
    FieldRule,
    MaskStyle,
    PolicyDocument,
    RolePolicy,
    normalize_key,
)
from omnicx.governance.policy_store import current_document
from omnicx.governance.service import Principal

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
                effective = stricter(rule, self.classifier.key(namespace, sub))
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
                effective = stricter(rule, self.classifier.key(namespace, sub))
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
        raise Forbidden(msg("the {role} role has no access policy", role=principal.role))
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
        raise Forbidden(msg("the {role} role may not reveal fields", role=principal.role))
    if not view.may_reveal(field_class):
        raise Forbidden(
            msg(
                "the {role} role may not reveal {field_class} fields",
                role=principal.role,
                field_class=field_class.value,
            ),
            field=field,
        )


def unmasked_fields(shown: Iterable[Shown]) -> list[str]:
    return sorted(s.field for s in shown if s.display is Display.PLAIN)


def view_entry(
    principal: Principal,
    customer_id: int,
    *,
    via: str,
    shown: Sequence[Shown] = (),
    personal_in_plain: bool | None = None,
    ip: str | None = None,
) -> audit.Draft:
    """The audit entry of one read of a customer (``customer.view``): where, and which
    protected fields were shown unmasked (names only). Commit it with
    ``audit.commit_entry`` before answering."""
    plain = unmasked_fields(shown)
    unmasked = bool(plain) if personal_in_plain is None else personal_in_plain or bool(plain)
    return audit.draft(
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
