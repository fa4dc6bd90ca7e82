"""The privacy page: an admin records an export and downloads it (audited), erases a
person, runs retention dry; other roles and forged forms are turned away."""

from __future__ import annotations

from sqlalchemy import func, select

from omnicx.governance.audit import AuditFilter, search
from omnicx.governance.models import PrivacyRequest, RetentionRun
from tests.factories import make_source
from tests.governance.privacy_people import EMAIL, send_li_na
from tests.governance.test_admin_pages import sign_in_as
from tests.web.test_auth_pages import csrf_of


def test_an_admin_exports_and_erases_from_the_page(client, db):
    _, key = make_source(db)
    survivor = send_li_na(client, db, key)
    sign_in_as(client, db, "admin")
    page = client.get("/admin/privacy")
    assert page.status_code == 200 and "No requests yet." in page.text
    csrf = csrf_of(page.text)

    exported = client.post(
        "/admin/privacy/requests",
        data={
            "csrf": csrf,
            "kind": "export",
            "identifier_type": "email",
            "identifier_value": EMAIL,
            "reason": "SAR by email",
        },
    )
    assert exported.status_code == 200 and "request 1: completed" in exported.text
    assert 'href="/admin/privacy/requests/1/bundle"' in exported.text
    bundle = client.get("/admin/privacy/requests/1/bundle")
    assert bundle.status_code == 200 and bundle.json()["customer_id"] == survivor
    with db.read() as session:
        (entry,) = search(session, AuditFilter(action="privacy.export"))
        assert entry.actor == "user:admin@corp.cn" and entry.ip == "testclient"

    erased = client.post(
        "/admin/privacy/requests",
        data={"csrf": csrf, "kind": "erase", "customer_id": str(survivor), "reason": "letter"},
    )
    assert "request 2: completed" in erased.text
    assert erased.text.count("<td>erased</td>") == 9, "her identifiers are suppressed"
    missing = client.post(
        "/admin/privacy/requests",
        data={"csrf": csrf, "kind": "erase", "customer_id": "999", "reason": "x"},
    )
    assert missing.status_code == 400 and "no customer 999" in missing.text
    for beyond in ("0", "99999999999999999999"):  # past the integer column: 400, not 500
        refused = client.post(
            "/admin/privacy/requests",
            data={"csrf": csrf, "kind": "erase", "customer_id": beyond, "reason": "x"},
        )
        assert refused.status_code == 400 and f"no customer {beyond}" in refused.text

    dry = client.post("/admin/privacy/retention", data={"csrf": csrf, "dry_run": "true"})
    assert dry.status_code == 200 and "(dry run)" in dry.text
    with db.read() as session:
        assert session.scalar(select(RetentionRun.dry_run)) is True


def test_other_roles_and_forged_forms_are_turned_away(client, db):
    sign_in_as(client, db, "supervisor")
    assert client.get("/admin/privacy").status_code == 403
    page = client.get("/account")
    assert "/admin/privacy" not in page.text
    denied = client.post(
        "/admin/privacy/requests",
        data={"csrf": csrf_of(page.text), "kind": "erase", "customer_id": "1", "reason": "x"},
    )
    assert denied.status_code == 403
    client.cookies.clear()
    sign_in_as(client, db, "admin", "root@corp.cn")
    forged = client.post(
        "/admin/privacy/requests",
        data={"csrf": "forged", "kind": "export", "customer_id": "1", "reason": "x"},
    )
    assert forged.status_code == 403
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(PrivacyRequest)) == 0
