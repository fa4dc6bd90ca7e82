"""Principals: bootstrap the first admin, issue and check API tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput, Unauthenticated
from omnicx.core.serialization import loads
from omnicx.core.time import utcnow
from omnicx.governance.models import ROLES, ApiToken, User
from omnicx.governance.permissions import Permission, allows
from omnicx.governance.secrets import hash_password, new_token, token_digest, verify_password


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the account does not exist (same cost as a real one)."""
    return hash_password("not-a-real-password")


@dataclass(frozen=True)
class Principal:
    """Who is acting: a program with a bearer token, or a person signed in to the UI.

    ``scopes`` narrows a token to some API areas (None: all its role allows).
    """

    kind: Literal["token", "user"]
    id: int
    name: str
    role: str
    scopes: frozenset[Permission] | None = None

    @property
    def actor(self) -> str:
        """How the audit log and history name this principal, e.g. ``user:li@corp.cn``."""
        return f"{self.kind}:{self.name}"

    def may(self, permission: Permission) -> bool:
        return allows(self.role, permission) and (self.scopes is None or permission in self.scopes)


SYSTEM = Principal(kind="token", id=0, name="system", role="admin")


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
    return admin, password


def create_token(
    session: Session, name: str, role: str = "admin", user_id: int | None = None
) -> str:
    """Issue an API token; the plaintext is returned once and never stored."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")
    token = new_token("ocx")
    session.add(
        ApiToken(
            name=name,
            token_hash=token_digest(token),
            prefix=token[:10],
            role=role,
            user_id=user_id,
            created_at=utcnow(),
        )
    )
    session.flush()
    return token


def authenticate_token(session: Session, token: str) -> Principal:
    """Resolve a bearer token or raise Unauthenticated."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("the bearer token is not valid")
    scopes = frozenset(Permission(s) for s in loads(row.scopes)) if row.scopes else None
    return Principal(kind="token", id=row.id, name=row.name, role=row.role, scopes=scopes)


def user_principal(user: User) -> Principal:
    return Principal(kind="user", id=user.id, name=user.email, role=user.role)


def authenticate_user(session: Session, email: str, password: str) -> User:
    """The user with this email and password, or Unauthenticated (same message either way)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        # Spend the same time as a real check so that timing does not reveal the account.
        verify_password(_dummy_hash(), password)
        raise Unauthenticated("email or password is wrong")
    if not verify_password(user.password_hash, password):
        raise Unauthenticated("email or password is wrong")
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0
