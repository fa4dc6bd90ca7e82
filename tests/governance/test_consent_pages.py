"""The consent fragment of the customer page: state, history, and the form (CSRF, roles)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from omnicx.core.time import utcnow
from omnicx.governance import audit
from omnicx.governance.models import Consent, User
from omnicx.governance.secrets import hash_password
from omnicx.identity.service import find_customer_by_identifier
from tests.factories import append_calls, call, make_source, process

PASSWORD = "correct horse battery staple"


def sign_in_as(client, db, role: str) -> None:
    email = f"{role}@omnicx.local"
    with db.write() as session:
        session.add(
            User(
                email=email,
                display_name=role,
                role=role,
                password_hash=hash_password(PASSWORD),
                created_at=utcnow(),
                failed_logins=0,
            )
        )
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def a_customer(db) -> int:
    source_id, _ = make_source(db)
    append_calls(db, source_id, [call("identify", userId="u-page", traits={"name": "王芳"})])
    process(db)
    with db.read() as session:
        return find_customer_by_identifier(session, "user_id", "u-page")


def cell(html: str, purpose: str, channel: str) -> str:
    match = re.search(
        rf'data-purpose="{purpose}" data-channel="{re.escape(channel)}" data-granted="(yes|no)"',
        html,
    )
    assert match, f"no cell for {purpose}/{channel}"
    return match.group(1)


def consent_rows(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Consent)) or 0


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    customer = a_customer(db)
    response = client.get(f"/customers/{customer}/consent", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    posted = client.post(
        f"/customers/{customer}/consent",
        data={"purpose": "marketing", "channel": "*", "granted": "yes"},
        follow_redirects=False,
    )
    assert posted.status_code == 303 and consent_rows(db) == 0


def test_an_agent_sees_the_state_and_records_a_spoken_opt_in(client, db):
    customer = a_customer(db)
    sign_in_as(client, db, "agent")
    path = f"/customers/{customer}/consent"

    page = client.get(path)
    assert page.status_code == 200
    assert cell(page.text, "marketing", "email") == "no"
    assert cell(page.text, "service", "sms") == "yes"
    assert "No decision recorded" in page.text
    assert 'id="consent-form"' in page.text and f'hx-post="{path}"' in page.text

    change = {"purpose": "marketing", "channel": "email", "granted": "yes", "note": "电话里同意"}
    forged = client.post(path, data={**change, "csrf": "forged"})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
    assert consent_rows(db) == 0

    done = client.post(
        path, data={**change, "csrf": csrf_of(page.text)}, headers={"HX-Request": "true"}
    )
    assert done.status_code == 200
    assert cell(done.text, "marketing", "email") == "yes"
    assert cell(done.text, "marketing", "sms") == "no"
    assert "电话里同意" in done.text and "user:agent@omnicx.local" in done.text
    with db.read() as session:
        [entry] = audit.search(session, audit.AuditFilter(action="consent.change"))
        [row] = session.scalars(select(Consent))
        assert entry.actor == "user:agent@omnicx.local" and entry.target_id == str(customer)
        assert entry.ip is not None
        recorded = (row.source, row.purpose, row.channel, row.granted)
    assert recorded == ("ui", "marketing", "email", True)

    # Without htmx, the form posts and comes back to the customer page.
    plain = client.post(
        path,
        data={"purpose": "marketing", "channel": "*", "granted": "no", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/customers/{customer}#consent"
    assert cell(client.get(path).text, "marketing", "email") == "no"


def test_a_wrong_value_is_shown_in_the_form_not_recorded(client, db):
    customer = a_customer(db)
    sign_in_as(client, db, "senior_agent")
    path = f"/customers/{customer}/consent"
    token = csrf_of(client.get(path).text)
    response = client.post(
        path,
        data={"purpose": "telepathy", "channel": "*", "granted": "yes", "csrf": token},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    assert "purpose must be one of service, marketing, analytics" in response.text
    assert consent_rows(db) == 0


def test_an_analyst_sees_no_customer_consent_and_cannot_record_it(client, db):
    customer = a_customer(db)
    sign_in_as(client, db, "analyst")
    path = f"/customers/{customer}/consent"
    assert client.get(path).status_code == 403
    token = csrf_of(client.get("/login").text)
    denied = client.post(
        path, data={"purpose": "marketing", "channel": "*", "granted": "yes", "csrf": token}
    )
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert consent_rows(db) == 0
