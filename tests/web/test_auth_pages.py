"""The sign-in pages over HTTP: lockout answers, the two-step sign-in, the account page, and
sessions that end when an admin disables the account."""

from __future__ import annotations

import re
import time

import pyotp

from omnicx.governance.audit import AuditFilter, search
from omnicx.governance.login import MAX_FAILURES, unknown_accounts
from omnicx.governance.models import User
from omnicx.governance.service import SYSTEM
from omnicx.governance.users import create_user, update_user
from omnicx.web import auth_pages

PASSWORD = "a-long-enough-password"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)


def add_user(db, email="li@corp.cn", role="supervisor"):
    with db.write() as session:
        user, _ = create_user(
            session, SYSTEM, email=email, display_name="Li", role=role, password=PASSWORD
        )
        return user.id


def post_login(client, email, password=PASSWORD):
    csrf = csrf_of(client.get("/login").text)
    data = {"email": email, "password": password, "csrf": csrf, "next": "/account"}
    return client.post("/login", data=data, follow_redirects=False)


def post_form(client, path, page, **fields):
    return client.post(path, data={"csrf": csrf_of(page), **fields}, follow_redirects=False)


def actions(db, prefix):
    with db.read() as session:
        return [(e.action, e.ip) for e in search(session, AuditFilter(action=prefix), 200)]


def test_repeated_failures_answer_429_with_the_same_words_for_unknown_accounts(client, db):
    unknown_accounts._entries.clear()
    add_user(db)
    for _ in range(MAX_FAILURES - 1):
        assert post_login(client, "li@corp.cn", "wrong").status_code == 401
        assert post_login(client, "nobody@corp.cn", "wrong").status_code == 401
    known = post_login(client, "li@corp.cn", "wrong")
    unknown = post_login(client, "nobody@corp.cn", "wrong")
    for response in (known, unknown):
        assert response.status_code == 429
        assert "too many failed attempts; try again after" in response.text
        assert 0 < int(response.headers["retry-after"]) <= 60
    # Locked: even the right password is refused until the time passes.
    assert post_login(client, "li@corp.cn").status_code == 429
    assert client.get("/account", follow_redirects=False).status_code == 303
    recorded = actions(db, "login.")
    assert ("login.locked", "testclient") in recorded
    assert {ip for _, ip in recorded} == {"testclient"}


def test_two_step_sign_in_from_setup_to_use(client, db):
    add_user(db)
    assert post_login(client, "li@corp.cn").status_code == 303
    account = client.get("/account").text
    assert "Two-step sign-in" in account and "Off." in account
    started = post_form(client, "/account/totp/setup", account)
    assert started.status_code == 303
    page = client.get("/account").text
    assert "<svg" in page and "otpauth://totp/OmniCX:li%40corp.cn" in page
    secret = re.search(r"<code>([A-Z2-7 ]+)</code>", page).group(1).replace(" ", "")
    assert post_form(client, "/account/totp/confirm", page, code="12345").status_code == 400
    confirmed_at = time.time()
    confirm_code = pyotp.TOTP(secret).at(confirmed_at)
    confirmed = post_form(client, "/account/totp/confirm", page, code=confirm_code)
    assert confirmed.status_code == 303
    assert "Two-step sign-in is on" in client.get(confirmed.headers["location"]).text
    assert ("user.totp_enable", "testclient") in actions(db, "user.")

    post_form(client, "/logout", client.get("/account").text)
    step = post_login(client, "li@corp.cn")
    # The password alone signs nobody in: the session only remembers that it was right.
    assert step.status_code == 200 and 'action="/login/code"' in step.text
    assert client.get("/account", follow_redirects=False).status_code == 303
    wrong_code = "000000" if not pyotp.TOTP(secret).verify("000000", valid_window=1) else "111111"
    wrong = post_form(client, "/login/code", step.text, code=wrong_code)
    assert wrong.status_code == 401 and 'action="/login/code"' in wrong.text
    # The code that confirmed the setup is used up; the next step's code is accepted
    # (the window allows one step of clock drift).
    reused = post_form(client, "/login/code", wrong.text, code=confirm_code)
    assert reused.status_code == 401
    next_code = pyotp.TOTP(secret).at(confirmed_at + 30)
    right = post_form(client, "/login/code", reused.text, code=next_code)
    assert right.status_code == 303 and right.headers["location"] == "/account"
    assert "li@corp.cn" in client.get("/account").text
    assert [a for a, _ in actions(db, "login.")] == [
        "login.success",
        "login.failure",
        "login.failure",
        "login.success",
    ]


def test_the_code_step_expires(client, db, monkeypatch):
    user_id = add_user(db)
    secret = pyotp.random_base32()
    with db.write() as session:
        session.get(User, user_id).totp_secret = secret
    monkeypatch.setattr(auth_pages, "SECOND_STEP_SECONDS", -1)
    step = post_login(client, "li@corp.cn")
    late = post_form(client, "/login/code", step.text, code=pyotp.TOTP(secret).now())
    assert late.status_code == 401 and "took too long" in late.text
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_a_disabled_or_demoted_user_loses_the_session_at_the_next_request(client, db):
    user_id = add_user(db, role="admin")
    add_user(db, "root@corp.cn", role="admin")
    assert post_login(client, "li@corp.cn").status_code == 303
    assert client.get("/admin/users").status_code == 200
    with db.write() as session:
        update_user(session, SYSTEM, user_id, role="agent")
    assert client.get("/admin/users").status_code == 403
    with db.write() as session:
        update_user(session, SYSTEM, user_id, disabled=True)
    assert client.get("/account", follow_redirects=False).status_code == 303
    again = post_login(client, "li@corp.cn")
    assert again.status_code == 403 and "disabled" in again.text


def test_a_nul_in_the_email_is_an_ordinary_failure(client, db):
    assert post_login(client, "li\x00@corp.cn").status_code == 401
