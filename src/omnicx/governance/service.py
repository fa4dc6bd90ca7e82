"""Principals: people (users) and programs (API tokens).

Signing in is split in two so that the slow password hash never holds a write lock:
``check_password`` runs in a read session, then ``record_sign_in`` records the outcome
(failure counter, lockout, audit) in a write session that commits even when the answer
is "no". The second factor (``check_second_factor``) is a write session of its own.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicx.core.errors import InvalidInput, NotFound, Unauthenticated
from omnicx.core.serialization import dumps, loads
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import audit, totp
from omnicx.governance.models import ROLES, ApiToken, User
from omnicx.governance.permissions import ROLE_PERMISSIONS, Permission, allows
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
# Who a sign-in attempt for an email without an account is recorded as: the typed text is
# not recorded (people type passwords into the email field).
ANONYMOUS = Principal(kind="user", id=0, name="anonymous", role="none")


def user_principal(user: User) -> Principal:
    return Principal(kind="user", id=user.id, name=user.email, role=user.role)


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


# -- the first admin ---------------------------------------------------------------------


def check_text(value: str, field: str) -> None:
    """Refuse NUL characters, which PostgreSQL text cannot hold (a 400, not a 500)."""
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters", field=field)


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")


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


# -- signing in ----------------------------------------------------------------------------

# After MAX_FAILURES consecutive failures an account is locked for FIRST_LOCKOUT; each
# further failure (once the lock has passed) doubles it, up to MAX_LOCKOUT.
MAX_FAILURES = 5
FIRST_LOCKOUT = timedelta(minutes=1)
MAX_LOCKOUT = timedelta(hours=1)


def lockout_after(failures: int) -> timedelta | None:
    """How long to lock after ``failures`` consecutive failures (None: not yet)."""
    if failures < MAX_FAILURES:
        return None
    return min(FIRST_LOCKOUT * 2 ** min(failures - MAX_FAILURES, 20), MAX_LOCKOUT)


class UnknownAccountBackoff:
    """The same back-off for emails that have no account, so that a lockout does not tell
    an attacker which accounts exist.

    Kept in this process's memory only (there is no row to count on): with several API
    processes behind a balancer an unknown email locks per process, and a restart forgets
    it. Bounded: past ``LIMIT`` emails the table starts over.
    """

    LIMIT = 10_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, datetime | None]] = {}
        self._lock = threading.Lock()

    def locked_until(self, email: str, now: datetime) -> datetime | None:
        with self._lock:
            until = self._entries.get(email, (0, None))[1]
        return until if until is not None and until > now else None

    def fail(self, email: str, now: datetime) -> tuple[int, datetime | None]:
        """Count a failure; returns (failures, locked until)."""
        with self._lock:
            if len(self._entries) >= self.LIMIT:
                self._entries.clear()
            failures = self._entries.get(email, (0, None))[0] + 1
            lock = lockout_after(failures)
            until = now + lock if lock else None
            self._entries[email] = (failures, until)
        return failures, until


unknown_accounts = UnknownAccountBackoff()

Outcome = Literal["signed_in", "needs_code", "refused", "locked", "disabled"]


@dataclass(frozen=True)
class SignIn:
    """What a sign-in step decided. ``user`` is set for signed_in and needs_code."""

    outcome: Outcome
    user: Principal | None = None
    retry_at: datetime | None = None

    @property
    def message(self) -> str:
        if self.outcome == "locked" and self.retry_at is not None:
            minutes = max(1, round((self.retry_at - utcnow()).total_seconds() / 60))
            return (
                f"too many failed attempts; try again after {self.retry_at:%H:%M} UTC "
                f"(in about {minutes} minute{'s' if minutes > 1 else ''})"
            )
        if self.outcome == "disabled":
            return "this account is disabled; ask an administrator"
        if self.outcome == "needs_code":
            return "enter the code from your authenticator app"
        return "email or password is wrong"


@dataclass(frozen=True)
class PasswordCheck:
    """The result of the (slow) password verification, to be recorded by ``record_sign_in``."""

    email: str
    user_id: int | None
    matched: bool


def check_password(session: Session, email: str, password: str) -> PasswordCheck:
    """Find the account and verify the password (argon2, ~0.1 s). Read-only.

    An unknown email costs the same time as a known one, so timing reveals nothing.
    """
    email = email.strip().lower()
    if "\x00" in email:  # no account has one; PostgreSQL could not even compare it
        verify_password(_dummy_hash(), password)
        return PasswordCheck(email, None, False)
    row = session.execute(select(User.id, User.password_hash).where(User.email == email)).first()
    if row is None:
        verify_password(_dummy_hash(), password)
        return PasswordCheck(email, None, False)
    return PasswordCheck(email, row.id, verify_password(row.password_hash, password))


def _locked_until(user: User, now: datetime) -> datetime | None:
    until = as_utc(user.locked_until) if user.locked_until else None
    return until if until is not None and until > now else None


def _fail(user: User, session: Session, reason: str, ip: str | None) -> SignIn:
    now = utcnow()
    user.failed_logins = (user.failed_logins or 0) + 1
    who = user_principal(user)
    audit.record(
        session,
        who,
        "login.failure",
        target_type="user",
        target_id=user.id,
        detail={"reason": reason, "failures": user.failed_logins},
        ip=ip,
    )
    lock = lockout_after(user.failed_logins)
    if lock is None:
        return SignIn("refused")
    user.locked_until = now + lock
    audit.record(
        session,
        who,
        "login.locked",
        target_type="user",
        target_id=user.id,
        detail={"failures": user.failed_logins, "seconds": int(lock.total_seconds())},
        ip=ip,
    )
    return SignIn("locked", retry_at=user.locked_until)


def _succeed(user: User, session: Session, second_factor: bool, ip: str | None) -> SignIn:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    audit.record(
        session,
        user_principal(user),
        "login.success",
        target_type="user",
        target_id=user.id,
        detail={"second_factor": second_factor},
        ip=ip,
    )
    return SignIn("signed_in", user=user_principal(user))


def _unknown_account(session: Session, email: str, ip: str | None) -> SignIn:
    now = utcnow()
    locked = unknown_accounts.locked_until(email, now)
    if locked is not None:
        audit.record(session, ANONYMOUS, "login.failure", detail={"reason": "locked"}, ip=ip)
        return SignIn("locked", retry_at=locked)
    failures, until = unknown_accounts.fail(email, now)
    audit.record(
        session,
        ANONYMOUS,
        "login.failure",
        detail={"reason": "unknown_account", "failures": failures},
        ip=ip,
    )
    if until is None:
        return SignIn("refused")
    audit.record(
        session,
        ANONYMOUS,
        "login.locked",
        detail={"failures": failures, "seconds": int((until - now).total_seconds())},
        ip=ip,
    )
    return SignIn("locked", retry_at=until)


def record_sign_in(session: Session, check: PasswordCheck, ip: str | None) -> SignIn:
    """Apply the lockout rules to a password check and audit it (write session; commit it
    whatever the outcome). Locks the user row, so concurrent attempts count exactly."""
    user = None
    if check.user_id is not None:
        user = session.scalar(select(User).where(User.id == check.user_id).with_for_update())
    if user is None:
        return _unknown_account(session, check.email, ip)
    locked = _locked_until(user, utcnow())
    if locked is not None:
        # Refused without looking at the password: a lock is no oracle for guesses.
        audit.record(
            session,
            user_principal(user),
            "login.failure",
            target_type="user",
            target_id=user.id,
            detail={"reason": "locked"},
            ip=ip,
        )
        return SignIn("locked", retry_at=locked)
    if not check.matched:
        return _fail(user, session, "wrong_password", ip)
    if user.disabled_at is not None:
        audit.record(
            session,
            user_principal(user),
            "login.failure",
            target_type="user",
            target_id=user.id,
            detail={"reason": "disabled"},
            ip=ip,
        )
        return SignIn("disabled")
    if user.totp_secret is not None:
        # The counter is not reset yet: the password alone must not buy more code guesses.
        return SignIn("needs_code", user=user_principal(user))
    return _succeed(user, session, False, ip)


def check_second_factor(session: Session, user_id: int, code: str, ip: str | None) -> SignIn:
    """The second step for a user whose password was right: a wrong code counts as a
    failed sign-in (same lockout). Write session; commit it whatever the outcome."""
    user = session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        return SignIn("refused")
    if user.disabled_at is not None:
        return SignIn("disabled")
    locked = _locked_until(user, utcnow())
    if locked is not None:
        audit.record(
            session,
            user_principal(user),
            "login.failure",
            target_type="user",
            target_id=user.id,
            detail={"reason": "locked"},
            ip=ip,
        )
        return SignIn("locked", retry_at=locked)
    if user.totp_secret is None:
        # An admin reset the second factor between the two steps: the password suffices.
        return _succeed(user, session, False, ip)
    if not totp.code_matches(totp.unseal(user.totp_secret), code):
        return _fail(user, session, "wrong_code", ip)
    return _succeed(user, session, True, ip)


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
            raise InvalidInput(f"unknown scope {scope!r}", field="scopes") from None
        if permission not in allowed:
            raise InvalidInput(f"the {role} role does not have {scope}", field="scopes")
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
        raise NotFound(f"no token {token_id}")
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
