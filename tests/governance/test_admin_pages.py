"""The audit and users pages, signed in as each kind of person who may or may not see them."""

from __future__ import annotations

import csv
import html
import io
import re

from sqlalchemy import update

from omnicx.governance.audit import AuditFilter, search
from omnicx.governance.models import AuditEntry, User
from omnicx.governance.service import SYSTEM
from omnicx.governance.users import create_user
from tests.web.test_auth_pages import PASSWORD, csrf_of, post_login


def sign_in_as(client, db, role, email=None):
    email = email or f"{role}@corp.cn"
    with db.write() as session:
        create_user(session, SYSTEM, email=email, display_name=role, role=role, password=PASSWORD)
    assert post_login(client, email).status_code == 303
    return email


def test_the_audit_page_filters_verifies_and_exports(client, db):
    sign_in_as(client, db, "supervisor")
    page = client.get("/admin/audit", params={"action": "login."})
    assert page.status_code == 200
    assert "<td>login.success</td>" in page.text and "<td>user.create</td>" not in page.text
    assert "Chain intact" not in page.text
    checked = client.get("/admin/audit", params={"verify": "1"})
    assert 'id="chain-status"' in checked.text and "Chain intact: 2 entries" in checked.text
    with db.write() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == 1).values(actor="user:x"))
    broken = client.get("/admin/audit", params={"verify": "1"})
    assert "Chain broken at entry 1" in broken.text
    exported = client.get("/admin/audit/export.csv", params={"action": "login."})
    assert exported.status_code == 200
    assert [r["action"] for r in csv.DictReader(io.StringIO(exported.text))] == ["login.success"]
    with db.read() as session:
        (export,) = search(session, AuditFilter(action="audit.export"))
        assert export.actor == "user:supervisor@corp.cn" and export.ip == "testclient"
    only = client.get("/admin/audit", params={"limit": 1, "action": "login."}).text
    assert "Older entries" not in only and "Newer entries" not in only  # one login: one page
    first = client.get("/admin/audit", params={"limit": 1, "target_type": "user"}).text
    assert "Newer entries" not in first
    older = re.search(r'href="/admin/audit\?([^"]+)">Older entries', first).group(1)
    assert "before_id=" in older and "target_type=user" in older and "limit=1" in older
    second = client.get("/admin/audit?" + html.unescape(older)).text
    newer = re.search(r'href="/admin/audit\?([^"]+)">← Newer entries', second).group(1)
    back = client.get("/admin/audit?" + html.unescape(newer)).text
    assert re.findall(r"<td>(\d+)</td>", back) == re.findall(r"<td>(\d+)</td>", first)
    bad_date = client.get("/admin/audit", params={"since": "last tuesday"})
    assert bad_date.status_code == 400 and "not a date" in bad_date.text


def test_the_pages_turn_away_roles_without_the_permission(client, db):
    sign_in_as(client, db, "agent")
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit/export.csv").status_code == 403
    assert client.get("/admin/users").status_code == 403
    account = client.get("/account").text
    assert "/admin/audit" not in account and "/admin/users" not in account
    denied = client.post(
        "/admin/users",
        data={"csrf": csrf_of(account), "email": "x@corp.cn", "display_name": "X", "role": "admin"},
    )
    assert denied.status_code == 403
    with db.read() as session:
        assert session.query(User).filter_by(email="x@corp.cn").count() == 0


def test_an_admin_adds_a_user_changes_the_role_and_disables_them(client, db):
    sign_in_as(client, db, "admin")
    page = client.get("/admin/users").text
    created = client.post(
        "/admin/users",
        data={
            "csrf": csrf_of(page),
            "email": "Zhao@corp.cn",
            "display_name": "赵",
            "role": "agent",
        },
    )
    assert created.status_code == 201
    assert "Added zhao@corp.cn" in created.text and "shown only now" in created.text
    duplicate = client.post(
        "/admin/users",
        data={
            "csrf": csrf_of(page),
            "email": "zhao@corp.cn",
            "display_name": "赵",
            "role": "agent",
        },
    )
    assert duplicate.status_code == 409 and "exists" in duplicate.text
    with db.read() as session:
        zhao = session.query(User).filter_by(email="zhao@corp.cn").one().id
    path = f"/admin/users/{zhao}"
    role = client.post(path, data={"csrf": csrf_of(page), "action": "role", "role": "analyst"})
    assert role.status_code == 200 and "Done." in role.text  # after the redirect
    client.post(path, data={"csrf": csrf_of(page), "action": "disable"})
    forged = client.post(path, data={"csrf": "forged", "action": "enable"})
    assert forged.status_code == 403
    with db.read() as session:
        row = session.get(User, zhao)
        assert row.role == "analyst" and row.disabled_at is not None
        actions = [e.action for e in search(session, AuditFilter(target_id=str(zhao)))]
    assert actions == ["user.disable", "user.role_change", "user.create"]
