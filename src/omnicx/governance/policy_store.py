"""Reading the effective access policies (cached) and changing them.

Admins change policies through ``/api/v1/admin/policies``; a change is stored in
``access_policies`` (one row per changed role, plus the row ``_fields`` for the
classification of keys) and audited as ``policy.change`` with before and after. What a
policy is, and the defaults the stored rows are overlaid on, is ``policies``.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from omnicx.core.errors import NotFound
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import utcnow
from omnicx.governance import audit
from omnicx.governance.models import ROLES, AccessPolicy
from omnicx.governance.policies import (
    DEFAULT_FIELDS,
    DEFAULT_ROLES,
    FIELDS_ROW,
    Classification,
    PolicyDocument,
    RolePolicy,
)
from omnicx.governance.service import Principal

# -- reading (cached) and changing ------------------------------------------------------------


class _Cache:
    """The effective document for a few seconds: policies are read on every customer
    read, and change rarely. A change in this process clears it at once; other
    processes (the worker, other API servers) see it within ``TTL_SECONDS``."""

    TTL_SECONDS = 10.0

    def __init__(self) -> None:
        self.document: PolicyDocument | None = None
        self.expires = 0.0
        self.bind: object = None  # the engine it was read from (tests switch databases)

    def clear(self) -> None:
        self.document, self.expires, self.bind = None, 0.0, None


_cache = _Cache()
# Set in session.info while an after-commit clear of the cache is registered.
_FORGET_PENDING = "omnicx.policy_cache_forget_pending"


def forget_cached() -> None:
    _cache.clear()


def current_document(session: Session) -> PolicyDocument:
    """The effective policies (defaults overlaid with the stored changes), cached."""
    document, bind = _cache.document, session.get_bind()
    if document is not None and _cache.expires > time.monotonic() and _cache.bind is bind:
        return document
    document = load_document(session)
    _cache.document, _cache.bind = document, bind
    _cache.expires = time.monotonic() + _Cache.TTL_SECONDS
    return document


def load_document(session: Session) -> PolicyDocument:
    """The effective policies, read from the database now."""
    stored = {row.role: loads(row.policy) for row in session.scalars(select(AccessPolicy))}
    fields = dict(DEFAULT_FIELDS)
    classification = stored.pop(FIELDS_ROW, None) or {}
    overrides = Classification.model_validate(classification)
    fields.update(overrides.fields)
    roles = dict(DEFAULT_ROLES)
    for role, policy in stored.items():
        if role in ROLES:
            roles[role] = RolePolicy.model_validate(policy)
    return PolicyDocument(
        fields=fields,
        unknown_keys=overrides.unknown_keys,
        unknown_identifier_types=overrides.unknown_identifier_types,
        roles=roles,
    )


def role_policy(session: Session, role: str) -> RolePolicy:
    if role not in ROLES:
        raise NotFound(
            msg("no role {role!r}; one of {names}", role=role, names=", ".join(ROLES)), field="role"
        )
    return load_document(session).roles[role]


def _store(session: Session, key: str, value: dict[str, Any] | None, actor: Principal) -> None:
    row = session.get(AccessPolicy, key)
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(
            AccessPolicy(role=key, policy=dumps(value), updated_at=utcnow(), updated_by=actor.actor)
        )
    else:
        row.policy, row.updated_at, row.updated_by = dumps(value), utcnow(), actor.actor
    session.flush()
    _forget_on_commit(session)


def _forget_on_commit(session: Session) -> None:
    """Clear the cache now and once more after the commit (a read between now and then
    may have cached the old document); once per transaction however many rows change."""
    if session.info.get(_FORGET_PENDING):
        return
    _cache.clear()
    session.info[_FORGET_PENDING] = True

    def forget(committed: Session) -> None:
        committed.info.pop(_FORGET_PENDING, None)
        _cache.clear()

    event.listen(session, "after_commit", forget, once=True)


def set_role_policy(
    session: Session, actor: Principal, role: str, policy: RolePolicy | None
) -> RolePolicy:
    """Replace one role's policy (None: back to the default); audited with before/after."""
    before = role_policy(session, role)
    _store(session, role, None if policy is None else policy.model_dump(mode="json"), actor)
    after = policy or DEFAULT_ROLES[role]
    audit.record(
        session,
        actor,
        "policy.change",
        target_type="policy",
        target_id=role,
        detail={"before": before.model_dump(mode="json"), "after": after.model_dump(mode="json")},
    )
    return after


def set_document(session: Session, actor: Principal, document: PolicyDocument) -> PolicyDocument:
    """Replace the classification overrides and every role's policy (roles left out go
    back to their default); audited with before/after."""
    before = load_document(session)
    overrides = {k: r for k, r in document.fields.items() if DEFAULT_FIELDS.get(k) != r}
    stored = document.classification.model_copy(update={"fields": overrides})
    if stored == Classification():
        _store(session, FIELDS_ROW, None, actor)
    else:
        _store(session, FIELDS_ROW, stored.model_dump(mode="json", by_alias=True), actor)
    for role in ROLES:
        policy = document.roles.get(role, DEFAULT_ROLES[role])
        same = policy == DEFAULT_ROLES[role]
        _store(session, role, None if same else policy.model_dump(mode="json"), actor)
    after = load_document(session)
    audit.record(
        session,
        actor,
        "policy.change",
        target_type="policy",
        target_id="*",
        detail={"before": _changes(before), "after": _changes(after)},
    )
    return after


def _changes(document: PolicyDocument) -> dict[str, Any]:
    """What differs from the defaults (the audit entry stays small)."""
    fields = {
        k: r.model_dump(mode="json", by_alias=True)
        for k, r in document.fields.items()
        if DEFAULT_FIELDS.get(k) != r
    }
    roles = {
        role: policy.model_dump(mode="json")
        for role, policy in document.roles.items()
        if policy != DEFAULT_ROLES.get(role)
    }
    return {
        "fields": fields,
        "unknown_keys": document.unknown_keys.value,
        "unknown_identifier_types": document.unknown_identifier_types.value,
        "roles": roles,
    }
