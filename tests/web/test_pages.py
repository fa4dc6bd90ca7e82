"""Sign-in and the customer pages, over HTTP (the browser test drives the same pages)."""

from __future__ import annotations

import re

from omnicx.governance.service import bootstrap_admin
from tests.factories import append_calls, call, make_source, process


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)


def sign_in(client, db, password="correct horse battery"):
    with db.write() as session:
        bootstrap_admin(session, "admin@omnicx.local", password)
    form = client.get("/login")
    return client.post(
        "/login",
        data={"email": "Admin@OmniCX.local", "password": password, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )


def test_pages_need_a_signed_in_user(client, db):
    for path in ("/customers", "/customers/1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_wrong_password_and_missing_csrf_are_refused(client, db):
    with db.write() as session:
        bootstrap_admin(session, "admin@omnicx.local", "right-password-123")
    form = client.get("/login")
    wrong = client.post(
        "/login",
        data={"email": "admin@omnicx.local", "password": "nope", "csrf": csrf_of(form.text)},
    )
    assert wrong.status_code == 401 and "email or password is wrong" in wrong.text
    forged = client.post(
        "/login",
        data={"email": "admin@omnicx.local", "password": "right-password-123", "csrf": "forged"},
    )
    assert forged.status_code == 403
    assert client.get("/customers", follow_redirects=False).status_code == 303


def test_find_a_customer_by_phone_and_see_the_360_page(client, db):
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [
            call("identify", 0, userId="crm-9", traits={"name": "陈静", "phone": "13912345678"}),
            call(
                "track",
                1,
                anonymousId="wx-1",
                event="WeChat Message Received",
                properties={"text": "我的发票开好了吗?"},
                context={"channel": "wechat", "traits": {"phone": "+86 139 1234 5678"}},
            ),
        ],
    )
    process(db)
    signed = sign_in(client, db)
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    found = client.get(
        "/customers", params={"type": "phone", "value": "139 1234 5678"}, follow_redirects=True
    )
    assert found.status_code == 200
    assert (
        "陈静" in found.text
        and "我的发票开好了吗?" in found.text
        and "+8613912345678" in found.text
    )
    missing = client.get("/customers", params={"type": "email", "value": "nobody@example.com"})
    assert missing.status_code == 404 and "no customer" in missing.text


def test_login_does_not_redirect_off_site(client, db):
    with db.write() as session:
        bootstrap_admin(session, "admin@omnicx.local", "right-password-123")
    form = client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": "admin@omnicx.local",
            "password": "right-password-123",
            "csrf": csrf_of(form.text),
            "next": "//evil.example",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/customers"
