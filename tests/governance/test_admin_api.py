"""``/api/v1/admin``: users and tokens, scopes that narrow a token, revocation that bites at
once, and audit entries that never hold a secret."""

from __future__ import annotations

from omnicx.governance import totp
from omnicx.governance.audit import AuditFilter, search
from omnicx.governance.models import User
from tests.factories import make_token


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def audit_log(db, prefix):
    with db.read() as session:
        return [(e.action, e.detail) for e in search(session, AuditFilter(action=prefix), 200)]


def test_users_are_created_changed_and_disabled_with_an_audit_trail(client, db):
    admin = auth(make_token(db))
    created = client.post(
        "/api/v1/admin/users",
        headers=admin,
        json={"email": " Wang@Corp.cn", "display_name": "王芳", "role": "agent"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "wang@corp.cn" and len(body["password"]) >= 12
    user_id = body["id"]
    again = client.post(
        "/api/v1/admin/users",
        headers=admin,
        json={"email": "wang@corp.cn", "display_name": "x", "role": "agent", "password": "p" * 12},
    )
    assert again.status_code == 409 and again.json()["error"]["field"] == "email"
    short = client.post(
        "/api/v1/admin/users",
        headers=admin,
        json={"email": "z@corp.cn", "display_name": "Z", "role": "agent", "password": "short"},
    )
    assert short.status_code == 400 and short.json()["error"]["field"] == "password"
    bad_role = client.patch(f"/api/v1/admin/users/{user_id}", headers=admin, json={"role": "boss"})
    assert bad_role.status_code == 400 and bad_role.json()["error"]["field"] == "role"
    changed = client.patch(
        f"/api/v1/admin/users/{user_id}",
        headers=admin,
        json={"role": "senior_agent", "disabled": True},
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "senior_agent" and changed.json()["disabled"] is True
    listed = {u["email"]: u for u in client.get("/api/v1/admin/users", headers=admin).json()}
    assert listed["wang@corp.cn"]["disabled"] is True
    assert client.patch("/api/v1/admin/users/999", headers=admin, json={}).status_code == 404
    trail = audit_log(db, "user.")
    assert [a for a, _ in trail] == ["user.disable", "user.role_change", "user.create"]
    assert '"from":"agent"' in trail[1][1] and '"to":"senior_agent"' in trail[1][1]
    assert all(body["password"] not in detail for _, detail in trail)


def test_the_last_active_admin_can_be_neither_demoted_nor_disabled(client, db):
    admin = auth(make_token(db))
    first = client.post(
        "/api/v1/admin/users",
        headers=admin,
        json={"email": "a@corp.cn", "display_name": "A", "role": "admin"},
    ).json()["id"]
    for change in ({"role": "agent"}, {"disabled": True}):
        refused = client.patch(f"/api/v1/admin/users/{first}", headers=admin, json=change)
        assert refused.status_code == 409
    client.post(
        "/api/v1/admin/users",
        headers=admin,
        json={"email": "b@corp.cn", "display_name": "B", "role": "admin"},
    )
    allowed = client.patch(f"/api/v1/admin/users/{first}", headers=admin, json={"role": "agent"})
    assert allowed.status_code == 200


def test_a_scoped_token_reaches_only_its_areas(client, db):
    admin = auth(make_token(db))
    issued = client.post(
        "/api/v1/admin/tokens",
        headers=admin,
        json={"name": "etl", "role": "supervisor", "scopes": ["audit:read"]},
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert issued.json()["scopes"] == ["audit:read"] and token.startswith("ocx_")
    assert client.get("/api/v1/audit", headers=auth(token)).status_code == 200
    # The supervisor role may read customers; this token may not.
    denied = client.get("/api/v1/customers/1", headers=auth(token))
    assert denied.status_code == 403 and "scoped" in denied.json()["error"]["message"]
    beyond = client.post(
        "/api/v1/admin/tokens",
        headers=admin,
        json={"name": "x", "role": "agent", "scopes": ["admin:manage"]},
    )
    assert beyond.status_code == 400 and beyond.json()["error"]["field"] == "scopes"
    unknown = client.post(
        "/api/v1/admin/tokens",
        headers=admin,
        json={"name": "x", "role": "agent", "scopes": ["everything"]},
    )
    assert unknown.status_code == 422
    (created,) = [d for a, d in audit_log(db, "token.create") if "supervisor" in d]
    assert token not in created and '"scopes":["audit:read"]' in created


def test_a_revoked_token_stops_working_at_once(client, db):
    admin = auth(make_token(db))
    issued = client.post(
        "/api/v1/admin/tokens", headers=admin, json={"name": "temp", "role": "admin"}
    ).json()
    temp = auth(issued["token"])
    assert client.get("/api/v1/admin/tokens", headers=temp).status_code == 200  # now cached
    revoked = client.delete(f"/api/v1/admin/tokens/{issued['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = client.get("/api/v1/admin/tokens", headers=temp)
    assert refused.status_code == 401
    listed = client.get("/api/v1/admin/tokens", headers=admin).json()
    assert issued["id"] not in [t["id"] for t in listed]
    with_revoked = client.get(
        "/api/v1/admin/tokens", headers=admin, params={"include_revoked": True}
    ).json()
    assert issued["id"] in [t["id"] for t in with_revoked]
    assert "token" not in with_revoked[0] and "token_hash" not in with_revoked[0]
    # Revoking twice is harmless and audited once.
    assert client.delete(f"/api/v1/admin/tokens/{issued['id']}", headers=admin).status_code == 200
    assert len(audit_log(db, "token.revoke")) == 1
    assert client.delete("/api/v1/admin/tokens/9999", headers=admin).status_code == 404


def test_resetting_a_second_factor_is_audited(client, db):
    admin = auth(make_token(db))
    user_id = client.post(
        "/api/v1/admin/users",
        headers=admin,
        json={"email": "lost@corp.cn", "display_name": "L", "role": "agent"},
    ).json()["id"]
    with db.write() as session:
        session.get(User, user_id).totp_secret = totp.new_secret()
    listed = client.get("/api/v1/admin/users", headers=admin).json()
    assert [u["second_factor"] for u in listed if u["id"] == user_id] == [True]
    reset = client.delete(f"/api/v1/admin/users/{user_id}/totp", headers=admin)
    assert reset.status_code == 200 and reset.json()["second_factor"] is False
    assert [a for a, _ in audit_log(db, "user.totp_reset")] == ["user.totp_reset"]


def test_nul_characters_are_bad_input_not_a_server_error(client, db):
    # PostgreSQL text cannot hold NUL (nor compare with it): every entry point refuses it.
    admin = auth(make_token(db))
    user = {"email": "a\x00@corp.cn", "display_name": "A", "role": "agent"}
    assert client.post("/api/v1/admin/users", headers=admin, json=user).status_code == 400
    token = {"name": "etl\x00", "role": "agent"}
    assert client.post("/api/v1/admin/tokens", headers=admin, json=token).status_code == 400
    for path in ("/api/v1/audit", "/api/v1/audit/export.csv"):
        response = client.get(path, headers=admin, params={"actor": "user:\x00"})
        assert response.status_code == 400 and response.json()["error"]["field"] == "actor"
