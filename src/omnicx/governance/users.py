"""User administration: create users, change their role, name or state, and manage the
second factor. Every change is audited (never the password)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicx.core.errors import Conflict, InvalidInput, NotFound, check_text
from omnicx.core.i18n import LANGUAGES, msg
from omnicx.core.time import utcnow
from omnicx.governance import audit, totp
from omnicx.governance.models import User
from omnicx.governance.secrets import hash_password
from omnicx.governance.service import Principal, check_role, user_principal

MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            msg("a password needs at least {minimum} characters", minimum=MIN_PASSWORD_LENGTH),
            field="password",
        )


def create_user(
    session: Session,
    actor: Principal,
    *,
    email: str,
    display_name: str,
    role: str,
    password: str | None = None,
    ip: str | None = None,
) -> tuple[User, str | None]:
    """Add a user; without ``password`` one is generated. Returns (user, generated password)."""
    email = email.strip().lower()
    check_text(email, "email")
    check_text(display_name, "display_name")
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInput("not an email address", field="email")
    if not display_name.strip():
        raise InvalidInput("a display name is needed", field="display_name")
    check_role(role)
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
    _check_password_rules(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(msg("a user with the email {email} exists", email=email), field="email")
    user = User(
        email=email,
        display_name=display_name.strip()[:200],
        role=role,
        password_hash=hash_password(password),
        created_at=utcnow(),
        failed_logins=0,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # the same email created concurrently
        raise Conflict(
            msg("a user with the email {email} exists", email=email), field="email"
        ) from exc
    audit.record(
        session,
        actor,
        "user.create",
        target_type="user",
        target_id=user.id,
        detail={"role": role},
        ip=ip,
    )
    return user, generated


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def display_names(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Each user's display name (their email when they gave none), in one query: what a
    list shows for the owners and authors on its rows. Unknown ids are left out."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.email).where(User.id.in_(ids)))
    return {int(i): name or email for i, name, email in rows}


def active_user_id(session: Session, email: str) -> int | None:
    """The id of the enabled account with this email (any case); None if there is none."""
    return session.scalar(
        select(User.id).where(
            func.lower(User.email) == email.strip().lower(), User.disabled_at.is_(None)
        )
    )


def get_user(session: Session, user_id: int, *, for_update: bool = False) -> User:
    stmt = select(User).where(User.id == user_id)
    user = session.scalar(stmt.with_for_update() if for_update else stmt)
    if user is None:
        raise NotFound(msg("no user {user_id}", user_id=user_id))
    return user


def _other_active_admins(session: Session, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == "admin", User.disabled_at.is_(None), User.id != user_id)
        )
        or 0
    )


def update_user(
    session: Session,
    actor: Principal,
    user_id: int,
    *,
    role: str | None = None,
    display_name: str | None = None,
    disabled: bool | None = None,
    ip: str | None = None,
) -> User:
    """Change a user's role, name or disabled state; each change is audited.

    The last active admin can be neither demoted nor disabled (nobody could undo it).
    """
    user = get_user(session, user_id, for_update=True)
    losing_admin = (
        user.role == "admin"
        and user.disabled_at is None
        and ((role is not None and role != "admin") or disabled is True)
    )
    if losing_admin and _other_active_admins(session, user.id) == 0:
        raise Conflict("this is the last active admin; make another admin first")
    if role is not None and role != user.role:
        check_role(role)
        audit.record(
            session,
            actor,
            "user.role_change",
            target_type="user",
            target_id=user.id,
            detail={"from": user.role, "to": role},
            ip=ip,
        )
        user.role = role
    if display_name is not None and display_name.strip() != user.display_name:
        check_text(display_name, "display_name")
        if not display_name.strip():
            raise InvalidInput("a display name is needed", field="display_name")
        user.display_name = display_name.strip()[:200]
        audit.record(
            session,
            actor,
            "user.update",
            target_type="user",
            target_id=user.id,
            detail={"fields": ["display_name"]},
            ip=ip,
        )
    if disabled is True and user.disabled_at is None:
        user.disabled_at = utcnow()
        audit.record(session, actor, "user.disable", target_type="user", target_id=user.id, ip=ip)
    elif disabled is False and user.disabled_at is not None:
        user.disabled_at = None
        audit.record(session, actor, "user.enable", target_type="user", target_id=user.id, ip=ip)
    session.flush()
    return user


def reset_totp(session: Session, actor: Principal, user_id: int, ip: str | None = None) -> User:
    """Remove a user's second factor (they lost the phone); they sign in with the password."""
    user = get_user(session, user_id, for_update=True)
    if user.totp_secret is not None:
        user.totp_secret = None
        audit.record(
            session, actor, "user.totp_reset", target_type="user", target_id=user.id, ip=ip
        )
    return user


def enable_totp(session: Session, user_id: int, secret: str, code: str, ip: str | None) -> bool:
    """Turn on the second factor once the user proves their app shows ``code`` for ``secret``."""
    user = get_user(session, user_id, for_update=True)
    step = totp.accepted_step(secret, code, used_up_to=None)
    if step is None:
        return False
    user.totp_secret, user.totp_last_step = secret, step
    audit.record(
        session,
        user_principal(user),
        "user.totp_enable",
        target_type="user",
        target_id=user.id,
        ip=ip,
    )
    return True


def disable_totp(session: Session, user_id: int, code: str, ip: str | None) -> bool:
    """Turn off one's own second factor; a current code is required."""
    user = get_user(session, user_id, for_update=True)
    if user.totp_secret is None:
        return True
    if not totp.code_matches(user.totp_secret, code):
        return False
    user.totp_secret = None
    audit.record(
        session,
        user_principal(user),
        "user.totp_disable",
        target_type="user",
        target_id=user.id,
        ip=ip,
    )
    return True


def set_language(session: Session, user_id: int, language: str | None) -> None:
    """Remember the language the UI speaks to the user (None: their browser decides)."""
    if language is not None and language not in LANGUAGES:
        choices = ", ".join(LANGUAGES)
        raise InvalidInput(
            msg(
                "unknown language {language!r}; use one of {choices}",
                language=language,
                choices=choices,
            ),
            field="language",
        )
    get_user(session, user_id).locale = language


def preferred_language(session: Session, user_id: int) -> str | None:
    """The language the user chose, if any (a primary-key get: no query when the session
    already holds the user, as after ``active_account``)."""
    user = session.get(User, user_id)
    return user.locale if user is not None else None
