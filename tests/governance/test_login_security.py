"""Sign-in rules: lockout with exponential back-off, reset on success, disabled accounts,
the second factor, and an audit entry for every attempt."""

from __future__ import annotations

from datetime import timedelta

import pyotp
from sqlalchemy import Text, select, type_coerce, update

from omnicx.core.crypto import decrypt_text, new_key
from omnicx.core.settings import reset_settings
from omnicx.core.time import as_utc, utcnow
from omnicx.governance import totp
from omnicx.governance.audit import AuditFilter, detail_of, search
from omnicx.governance.keys import key_usage, rotate
from omnicx.governance.login import (
    FIRST_LOCKOUT,
    MAX_FAILURES,
    MAX_LOCKOUT,
    check_password,
    check_second_factor,
    lockout_after,
    record_sign_in,
    unknown_accounts,
)
from omnicx.governance.models import User
from omnicx.governance.service import SYSTEM
from omnicx.governance.users import create_user, enable_totp, update_user

PASSWORD = "a-long-enough-password"
OLD_KEY, NEW_KEY = f"old:{new_key()}", f"new:{new_key()}"


def add_user(db, email="li@corp.cn", role="agent"):
    with db.write() as session:
        user, _ = create_user(
            session, SYSTEM, email=email, display_name="Li", role=role, password=PASSWORD
        )
        return user.id


def attempt(db, email, password, ip="203.0.113.7"):
    """One sign-in as the login page does it: check in a read session, record in a write one."""
    with db.read() as session:
        checked = check_password(session, email, password)
    with db.write() as session:
        return record_sign_in(session, checked, ip)


def user_row(db, user_id):
    with db.read() as session:
        user = session.get(User, user_id)
        session.expunge(user)  # keep the loaded values after the read session ends
        return user


def entries(db, action):
    with db.read() as session:
        found = search(session, AuditFilter(action=action), limit=100)
        session.expunge_all()
        return found


def test_the_back_off_doubles_from_one_minute_up_to_one_hour():
    assert [lockout_after(n) for n in range(1, MAX_FAILURES)] == [None] * (MAX_FAILURES - 1)
    assert lockout_after(MAX_FAILURES) == FIRST_LOCKOUT == timedelta(minutes=1)
    assert lockout_after(MAX_FAILURES + 1) == timedelta(minutes=2)
    assert lockout_after(MAX_FAILURES + 3) == timedelta(minutes=8)
    assert lockout_after(MAX_FAILURES + 6) == MAX_LOCKOUT == timedelta(hours=1)
    assert lockout_after(10_000) == MAX_LOCKOUT


def test_five_failures_lock_the_account_even_for_the_right_password(db):
    user_id = add_user(db)
    outcomes = [attempt(db, "li@corp.cn", "wrong").outcome for _ in range(MAX_FAILURES)]
    assert outcomes == ["refused"] * (MAX_FAILURES - 1) + ["locked"]
    locked = attempt(db, "LI@corp.cn", PASSWORD)
    assert locked.outcome == "locked" and locked.retry_at is not None
    assert timedelta(seconds=50) < locked.retry_at - utcnow() <= FIRST_LOCKOUT
    assert "try again after" in str(locked.message)
    row = user_row(db, user_id)
    # The failure counter was committed although each attempt answered "no".
    assert row.failed_logins == MAX_FAILURES and row.last_login_at is None
    failures = entries(db, "login.failure")
    assert len(failures) == MAX_FAILURES + 1
    assert {e.ip for e in failures} == {"203.0.113.7"}
    assert detail_of(failures[0]) == {"reason": "locked"}
    assert [detail_of(e)["failures"] for e in entries(db, "login.locked")] == [MAX_FAILURES]


def test_a_failure_after_the_lock_passes_doubles_it(db):
    user_id = add_user(db)
    for _ in range(MAX_FAILURES):
        attempt(db, "li@corp.cn", "wrong")
    with db.write() as session:  # the minute has passed
        session.execute(
            update(User).where(User.id == user_id).values(locked_until=utcnow() - timedelta(1))
        )
    again = attempt(db, "li@corp.cn", "still wrong")
    assert again.outcome == "locked"
    assert timedelta(seconds=110) < again.retry_at - utcnow() <= timedelta(minutes=2)


def test_success_resets_the_counter_and_records_the_time(db):
    user_id = add_user(db)
    for _ in range(MAX_FAILURES - 1):
        attempt(db, "li@corp.cn", "wrong")
    result = attempt(db, " Li@Corp.cn ", PASSWORD)
    assert result.outcome == "signed_in" and result.user.id == user_id
    row = user_row(db, user_id)
    assert row.failed_logins == 0 and row.locked_until is None
    assert utcnow() - as_utc(row.last_login_at) < timedelta(seconds=10)
    (success,) = entries(db, "login.success")
    assert success.actor == "user:li@corp.cn" and success.target_id == str(user_id)
    # Four more failures do not lock: the count started again.
    assert attempt(db, "li@corp.cn", "wrong").outcome == "refused"


def test_a_disabled_user_cannot_sign_in(db):
    user_id = add_user(db, "a@corp.cn", role="admin")
    add_user(db, "b@corp.cn", role="admin")
    with db.write() as session:
        update_user(session, SYSTEM, user_id, disabled=True)
    result = attempt(db, "a@corp.cn", PASSWORD)
    assert result.outcome == "disabled" and result.user is None
    # With the wrong password it looks like any other failure (and counts as one).
    assert attempt(db, "a@corp.cn", "wrong").outcome == "refused"
    assert detail_of(entries(db, "login.failure")[-1])["reason"] == "disabled"


def test_unknown_accounts_are_locked_the_same_way_without_recording_the_typed_email(db):
    unknown_accounts._entries.clear()
    results = [attempt(db, "ghost@corp.cn", "guess") for _ in range(MAX_FAILURES + 1)]
    assert [r.outcome for r in results] == ["refused"] * 4 + ["locked", "locked"]
    real = add_user(db)
    for _ in range(MAX_FAILURES):
        attempt(db, "li@corp.cn", "guess")
    # Same message shape whether or not the account exists.
    unknown, known = str(results[-1].message), str(attempt(db, "li@corp.cn", "x").message)
    assert unknown.split(";")[0] == known.split(";")[0]
    for entry in entries(db, "login."):
        assert "ghost" not in entry.detail and "ghost" not in entry.actor
    assert user_row(db, real).failed_logins == MAX_FAILURES


def test_the_second_factor_is_asked_after_the_password_and_wrong_codes_count(db):
    user_id = add_user(db)
    secret = totp.new_secret()
    with db.write() as session:
        session.get(User, user_id).totp_secret = secret
    first = attempt(db, "li@corp.cn", PASSWORD)
    assert first.outcome == "needs_code" and first.user.id == user_id
    assert not entries(db, "login.success")
    with db.write() as session:
        wrong = check_second_factor(session, user_id, "000000", "203.0.113.7")
    if pyotp.TOTP(secret).verify("000000", valid_window=1):  # one chance in ~330,000
        return
    assert wrong.outcome == "refused" and user_row(db, user_id).failed_logins == 1
    with db.write() as session:
        right = check_second_factor(session, user_id, pyotp.TOTP(secret).now(), "203.0.113.7")
    assert right.outcome == "signed_in"
    assert user_row(db, user_id).failed_logins == 0
    (success,) = entries(db, "login.success")
    assert detail_of(success) == {"second_factor": True}


def test_a_code_signs_in_once_only(db):
    user_id = add_user(db)
    secret = totp.new_secret()
    with db.write() as session:
        session.get(User, user_id).totp_secret = secret
    code = pyotp.TOTP(secret).now()
    with db.write() as session:
        assert check_second_factor(session, user_id, code, None).outcome == "signed_in"
    with db.write() as session:
        replayed = check_second_factor(session, user_id, code, None)
    assert replayed.outcome == "refused"
    assert user_row(db, user_id).failed_logins == 1


def test_the_secret_is_stored_encrypted(db):
    user_id = add_user(db)
    secret = totp.new_secret()
    with db.write() as session:
        session.get(User, user_id).totp_secret = secret
    with db.read() as session:
        raw = type_coerce(User.totp_secret, Text)  # the stored text, not the decrypting type
        stored = session.scalar(select(raw).where(User.id == user_id))
    assert secret not in stored and decrypt_text(stored, totp.PURPOSE) == secret


def test_the_second_factor_survives_key_rotation(db, settings, monkeypatch):
    monkeypatch.setenv("OMNICX_ENCRYPTION_KEYS", OLD_KEY)
    reset_settings()
    user_id = add_user(db)
    secret = totp.new_secret()
    generator = pyotp.TOTP(secret)
    with db.write() as session:
        # The previous step's code, so that the current one is still unused for signing in.
        assert enable_totp(
            session, user_id, secret, generator.at(utcnow() - timedelta(seconds=30)), None
        )

    monkeypatch.setenv("OMNICX_ENCRYPTION_KEYS", f"{NEW_KEY},{OLD_KEY}")
    reset_settings()
    assert rotate(db)["users.totp_secret"] == 1
    monkeypatch.setenv("OMNICX_ENCRYPTION_KEYS", NEW_KEY)  # the old key is gone
    reset_settings()
    assert key_usage(db)["users.totp_secret"] == {"new": 1}
    with db.write() as session:
        assert check_second_factor(session, user_id, generator.now(), None).outcome == "signed_in"
