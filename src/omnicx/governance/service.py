"""Principals: people (users) and programs (API tokens).

Who is acting (``Principal``), the first admin, whether a signed-in user may still use
their session, and issuing, listing, revoking and resolving API tokens. Signing in
(password, lockout, second factor) is its own flow in ``login``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput, NotFound, Unauthenticated, check_text
from omnicx.core.i18n import msg
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import utcnow
from omnicx.governance import audit
from omnicx.governance.models import ROLES, ApiToken, User
from omnicx.governance.permissions import ROLE_PERMISSIONS, Permission, allows
from omnicx.governance.secrets import hash_password, new_token, token_digest


@dataclass(frozen=True)
class Principal:
    """Who is acting: a program with a bearer token, a person signed in to the UI, or
    OmniCX itself (``SYSTEM``: automatic merges, the dispatcher, bootstrap).

    ``scopes`` narrows a token to some API areas (None: all its role allows).
    """

    kind: Literal["token", "user", "system"]
    id: int
    name: str
    role: str
    scopes: frozenset[Permission] | None = None

    @property
    def actor(self) -> str:
        """How the audit log and history name this principal: ``user:li@corp.cn``,
        ``token:12:etl`` or ``system``. Token names are free text and not unique, so a
        token is named by its id too (a token called "system" cannot pass for OmniCX)."""
        if self.kind == "system":
            return "system"
        if self.kind == "token":
            return f"token:{self.id}:{self.name}"
        return f"{self.kind}:{self.name}"

    def may(self, permission: Permission) -> bool:
        return allows(self.role, permission) and (self.scopes is None or permission in self.scopes)


SYSTEM = Principal(kind="system", id=0, name="system", role="admin")


def user_principal(user: User) -> Principal:
    return Principal(kind="user", id=user.id, name=user.email, role=user.role)


# -- the first admin ---------------------------------------------------------------------


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(
            msg("unknown role {role!r}; one of {names}", role=role, names=", ".join(ROLES)),
            field="role",
        )


def bootstrap_admin(session: Session, email: str, password: str | None) -> tuple[User, str | None]:
    """Create the first admin if there is no user yet. Returns (admin, new password or None)."""
    existing = session.scalar(select(User).where(User.role == "admin").order_by(User.id).limit(1))
    if existing is not None:
        return existing, None
    password = password or secrets.token_urlsafe(12)
    admin = User(
        email=email.lower(),
        display_name="Administrator",
        role="admin",
        password_hash=hash_password(password),
        created_at=utcnow(),
    )
    session.add(admin)
    session.flush()
    audit.record(
        session,
        SYSTEM,
        "user.create",
        target_type="user",
        target_id=admin.id,
        detail={"role": "admin", "bootstrap": True},
    )
    return admin, password


def active_account(session: Session, user_id: int) -> Principal | None:
    """The user as a principal if they may still use a session (exists, not disabled)."""
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None:
        return None
    return user_principal(user)


# -- API tokens ----------------------------------------------------------------------------


def _check_scopes(role: str, scopes: list[str] | None) -> list[str] | None:
    if scopes is None:
        return None
    allowed = ROLE_PERMISSIONS.get(role, frozenset())
    chosen: list[str] = []
    for scope in scopes:
        try:
            permission = Permission(scope)
        except ValueError:
            raise InvalidInput(
                msg("unknown scope {scope!r}", scope=scope), field="scopes"
            ) from None
        if permission not in allowed:
            raise InvalidInput(
                msg("the {role} role does not have {scope}", role=role, scope=scope), field="scopes"
            )
        if permission.value not in chosen:
            chosen.append(permission.value)
    if not chosen:
        raise InvalidInput(
            "give at least one scope, or none to allow the whole role", field="scopes"
        )
    return chosen


def create_token(
    session: Session,
    name: str,
    role: str = "admin",
    user_id: int | None = None,
    *,
    scopes: list[str] | None = None,
    actor: Principal = SYSTEM,
    ip: str | None = None,
) -> str:
    """Issue an API token; the plaintext is returned once and never stored."""
    return issue_token(session, name, role, user_id, scopes=scopes, actor=actor, ip=ip)[1]


def issue_token(
    session: Session,
    name: str,
    role: str,
    user_id: int | None = None,
    *,
    scopes: list[str] | None = None,
    actor: Principal = SYSTEM,
    ip: str | None = None,
) -> tuple[ApiToken, str]:
    """Issue an API token (audited): its row and the plaintext, which is never stored.

    ``scopes`` (permissions, a subset of the role's) narrows it to some API areas.
    """
    check_role(role)
    check_text(name, "name")
    chosen = _check_scopes(role, scopes)
    token = new_token("ocx")
    row = ApiToken(
        name=name.strip()[:200] or "token",
        token_hash=token_digest(token),
        prefix=token[:10],
        role=role,
        user_id=user_id,
        scopes=None if chosen is None else dumps(chosen),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "token.create",
        target_type="token",
        target_id=row.id,
        detail={"role": role, "scopes": chosen},
        ip=ip,
    )
    return row, token


def token_scopes(row: ApiToken) -> list[str] | None:
    return list(loads(row.scopes)) if row.scopes else None


def list_tokens(session: Session, *, include_revoked: bool = False) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(stmt))


def revoke_token(
    session: Session, actor: Principal, token_id: int, ip: str | None = None
) -> ApiToken:
    """Revoke a token (idempotent). Processes that cached it keep it for their cache TTL;
    the caller clears this process's cache (``governance.api.tokens.forget``)."""
    row = session.scalar(select(ApiToken).where(ApiToken.id == token_id).with_for_update())
    if row is None:
        raise NotFound(msg("no token {token_id}", token_id=token_id))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            "token.revoke",
            target_type="token",
            target_id=row.id,
            detail={"role": row.role},
            ip=ip,
        )
    return row


def authenticate_token(session: Session, token: str) -> Principal:
    """Resolve a bearer token or raise Unauthenticated."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("the bearer token is not valid")
    scopes = frozenset(Permission(s) for s in loads(row.scopes)) if row.scopes else None
    return Principal(kind="token", id=row.id, name=row.name, role=row.role, scopes=scopes)


def acting_user_id(session: Session, principal: Principal) -> int | None:
    """The user a principal acts for: the signed-in user, or the user a token was issued
    to (None for a token of no user, and for OmniCX itself)."""
    if principal.kind == "user":
        return principal.id
    if principal.kind == "token":
        return session.scalar(select(ApiToken.user_id).where(ApiToken.id == principal.id))
    return None
