"""Sign-in and the customer pages, over HTTP (the browser test drives the same pages)."""

from __future__ import annotations

import re

from omnicx.governance.audit import AuditFilter, detail_of, search
from omnicx.governance.service import bootstrap_admin
from tests.factories import append_calls, call, make_source, process
from tests.governance.masking_people import EMAIL, MASKED, PHONE, seed_person, sign_in_as


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


# -- the customer page through the access layer ----------------------------------------------


def reveal_forms(html: str) -> list[str]:
    return re.findall(r'name="field" value="([^"]+)"', html)


def test_an_agent_sees_the_masked_page_without_reveal_controls(client, db):
    customer_id = seed_person(client, db, orders=5)
    sign_in_as(client, db, "agent")
    page = client.get(f"/customers/{customer_id}")
    assert page.status_code == 200
    for masked in MASKED.values():
        assert masked in page.text
    assert PHONE not in page.text and EMAIL not in page.text
    assert reveal_forms(page.text) == []
    assert "The newest 3 of 5 orders." in page.text and "SO-0005" in page.text
    assert "SO-0002" not in page.text
    # The consent panel (loaded by htmx) has its place; htmx itself is served locally.
    assert f'hx-get="/customers/{customer_id}/consent"' in page.text
    script = re.search(r'<script src="(/static/vendor/htmx-[\d.]+\.min\.js)"', page.text)
    assert script and client.get(script.group(1)).status_code == 200
    refused = client.post(
        f"/customers/{customer_id}/reveal",
        data={"field": "traits.phone", "reason": "r", "csrf": csrf_of(page.text)},
    )
    assert refused.status_code == 403 and PHONE not in refused.text


def test_a_senior_agent_reveals_a_field_with_a_reason_on_the_page(client, db):
    customer_id = seed_person(client, db)
    sign_in_as(client, db, "senior_agent")
    page = client.get(f"/customers/{customer_id}")
    fields = reveal_forms(page.text)
    assert {"traits.phone", "traits.email", "traits.name", "traits.id_card"} <= set(fields)
    assert any(f.startswith("identifiers.") for f in fields)
    url, token = f"/customers/{customer_id}/reveal", csrf_of(page.text)
    no_reason = client.post(url, data={"field": "traits.phone", "reason": " ", "csrf": token})
    assert no_reason.status_code == 400 and PHONE not in no_reason.text
    forged = client.post(url, data={"field": "traits.phone", "reason": "r", "csrf": "forged"})
    assert forged.status_code == 403 and PHONE not in forged.text
    shown = client.post(url, data={"field": "traits.phone", "reason": "callback", "csrf": token})
    assert shown.status_code == 200
    assert shown.text == f'<span class="revealed" data-field="traits.phone">{PHONE}</span>'
    with db.read() as session:
        [entry] = search(session, AuditFilter(action="customer.reveal"))
        assert detail_of(entry) == {
            "field": "traits.phone",
            "class": "personal",
            "reason": "callback",
        }
        views = search(session, AuditFilter(action="customer.view"))
        assert [detail_of(v)["via"] for v in views][:1] == ["page.360"]


def test_an_analyst_gets_analytics_and_no_customer_pages(client, db):
    customer_id = seed_person(client, db)
    sign_in_as(client, db, "analyst")
    home = client.get("/")
    assert 'href="/analytics"' in home.text and 'href="/customers"' not in home.text
    assert client.get("/customers").status_code == 403
    denied = client.get(f"/customers/{customer_id}")
    assert denied.status_code == 403 and MASKED["phone"] not in denied.text
    analytics = client.get("/analytics")
    assert analytics.status_code == 200 and "p_" in analytics.text and "gold" in analytics.text
    assert MASKED["name"] not in analytics.text and EMAIL not in analytics.text
    sign_in_as(client, db, "agent")
    assert client.get("/analytics").status_code == 403
