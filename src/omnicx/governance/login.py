"""Signing in: password, lockout with back-off, and the optional second factor (TOTP).

Kept apart from ``service`` (who principals are, and API tokens) because it is a flow of
its own with its own rules. Signing in is split in two so that the slow password hash
never holds a write lock: ``check_password`` runs in a read session, then
``record_sign_in`` records the outcome (failure counter, lockout, audit) in a write
session that commits even when the answer is "no". The second factor
(``check_second_factor``) is a write session of its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicx.core.i18n import Message, msg
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import audit, totp
from omnicx.governance.models import User
from omnicx.governance.secrets import hash_password, verify_password
from omnicx.governance.service import Principal, user_principal

# Who a sign-in attempt for an email without an account is recorded as: the typed text is
# not recorded (people type passwords into the email field).
ANONYMOUS = Principal(kind="user", id=0, name="anonymous", role="none")

# After MAX_FAILURES consecutive failures an account is locked for FIRST_LOCKOUT; each
# further failure (once the lock has passed) doubles it, up to MAX_LOCKOUT.
MAX_FAILURES = 5
FIRST_LOCKOUT = timedelta(minutes=1)
MAX_LOCKOUT = timedelta(hours=1)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the account does not exist (same cost as a real one)."""
    return hash_password("not-a-real-password")


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
    def message(self) -> Message:
        """What to tell the person, translated when the page is rendered."""
        if self.outcome == "locked" and self.retry_at is not None:
            minutes = max(1, round((self.retry_at - utcnow()).total_seconds() / 60))
            return msg(
                "too many failed attempts; try again after {time} UTC (in about {minutes} min)",
                time=self.retry_at.strftime("%H:%M"),
                minutes=minutes,
            )
        if self.outcome == "disabled":
            return msg("this account is disabled; ask an administrator")
        if self.outcome == "needs_code":
            return msg("enter the code from your authenticator app")
        return msg("email or password is wrong")


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


# -- recording outcomes ------------------------------------------------------------------


def _audit_user(session: Session, user: User, action: str, ip: str | None, **detail: Any) -> None:
    audit.record(
        session,
        user_principal(user),
        action,
        target_type="user",
        target_id=user.id,
        detail=detail,
        ip=ip,
    )


def _refused_while_locked(session: Session, user: User, ip: str | None) -> SignIn | None:
    """A locked account is refused without looking at the password or code: a lock is no
    oracle for guesses. None when the account is not locked."""
    until = as_utc(user.locked_until) if user.locked_until else None
    if until is None or until <= utcnow():
        return None
    _audit_user(session, user, "login.failure", ip, reason="locked")
    return SignIn("locked", retry_at=until)


def _fail(user: User, session: Session, reason: str, ip: str | None) -> SignIn:
    now = utcnow()
    user.failed_logins = (user.failed_logins or 0) + 1
    _audit_user(session, user, "login.failure", ip, reason=reason, failures=user.failed_logins)
    lock = lockout_after(user.failed_logins)
    if lock is None:
        return SignIn("refused")
    user.locked_until = now + lock
    seconds = int(lock.total_seconds())
    _audit_user(session, user, "login.locked", ip, failures=user.failed_logins, seconds=seconds)
    return SignIn("locked", retry_at=user.locked_until)


def _succeed(user: User, session: Session, second_factor: bool, ip: str | None) -> SignIn:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    _audit_user(session, user, "login.success", ip, second_factor=second_factor)
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


def _locked_user(session: Session, user_id: int) -> User | None:
    # Locks the row, so concurrent attempts count exactly.
    return session.scalar(select(User).where(User.id == user_id).with_for_update())


def record_sign_in(session: Session, check: PasswordCheck, ip: str | None) -> SignIn:
    """Apply the lockout rules to a password check and audit it (write session; commit it
    whatever the outcome). Locks the user row, so concurrent attempts count exactly."""
    user = None if check.user_id is None else _locked_user(session, check.user_id)
    if user is None:
        return _unknown_account(session, check.email, ip)
    refused = _refused_while_locked(session, user, ip)
    if refused is not None:
        return refused
    if not check.matched:
        return _fail(user, session, "wrong_password", ip)
    if user.disabled_at is not None:
        _audit_user(session, user, "login.failure", ip, reason="disabled")
        return SignIn("disabled")
    if user.totp_secret is not None:
        # The counter is not reset yet: the password alone must not buy more code guesses.
        return SignIn("needs_code", user=user_principal(user))
    return _succeed(user, session, False, ip)


def check_second_factor(session: Session, user_id: int, code: str, ip: str | None) -> SignIn:
    """The second step for a user whose password was right: a wrong code counts as a
    failed sign-in (same lockout). Write session; commit it whatever the outcome."""
    user = _locked_user(session, user_id)
    if user is None:
        return SignIn("refused")
    if user.disabled_at is not None:
        return SignIn("disabled")
    refused = _refused_while_locked(session, user, ip)
    if refused is not None:
        return refused
    if user.totp_secret is None:
        # An admin reset the second factor between the two steps: the password suffices.
        return _succeed(user, session, False, ip)
    step = totp.accepted_step(user.totp_secret, code, user.totp_last_step)
    if step is None:
        return _fail(user, session, "wrong_code", ip)
    user.totp_last_step = step
    return _succeed(user, session, True, ip)
