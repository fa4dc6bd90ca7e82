"""Every route × every actor, from the application's own route table.

A new ``/api/v1`` route without a permission rule fails here; a new page or public
route must be added to the lists below on purpose.
"""

from __future__ import annotations

import re
from functools import partial

import fastapi.routing
import pytest
from sqlalchemy import func, select

from omnicx.governance.api import require
from omnicx.governance.models import ROLES
from omnicx.governance.permissions import ROLE_PERMISSIONS
from omnicx.identity.models import IdentityLink, Merge
from tests.factories import append_calls, call, make_source, make_token, process

PUBLIC = {"/", "/login", "/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
SIGNED_IN_PAGES = {"/customers", "/customers/{customer_id}", "/logout"}
BODIES = {"/api/v1/customers/{customer_id}/unmerge": {"merge_id": 1, "reason": "matrix test"}}
# Sign-in, account and administration pages (auth_pages.py, admin_pages.py).
PUBLIC |= {"/login/code"}
SIGNED_IN_PAGES |= {"/account", "/account/totp/setup", "/account/totp/confirm"}
SIGNED_IN_PAGES |= {"/account/totp/disable", "/admin/audit", "/admin/audit/export.csv"}
SIGNED_IN_PAGES |= {"/admin/users", "/admin/users/{user_id}"}
BODIES["/api/v1/admin/users"] = {"email": "m@corp.cn", "display_name": "M", "role": "agent"}
BODIES["/api/v1/admin/users/{user_id}"] = {"display_name": "Matrix"}
BODIES["/api/v1/admin/tokens"] = {"name": "matrix", "role": "agent"}
# Privacy (privacy_api.py): an export only, so the matrix never erases its own data.
BODIES["/api/v1/privacy/requests"] = {"kind": "export", "customer_id": 1, "reason": "matrix"}
BODIES["/api/v1/privacy/suppressions"] = {
    "identifier": {"type": "email", "value": "matrix@x.cn"},
    "scope": "marketing",
}
BODIES["/api/v1/privacy/retention/run"] = {"dry_run": True}
SIGNED_IN_PAGES |= {"/admin/privacy", "/admin/privacy/requests", "/admin/privacy/retention"}
SIGNED_IN_PAGES |= {"/admin/privacy/requests/{request_id}/bundle"}
# The access layer (customers/api.py, policy_api.py, pages.py).
SIGNED_IN_PAGES |= {"/customers/{customer_id}/reveal", "/analytics"}
BODIES["/api/v1/customers/{customer_id}/reveal"] = {"field": "traits.email", "reason": "matrix"}
BODIES["/api/v1/admin/policies"] = {"fields": {"loyalty_no": "personal"}}
BODIES["/api/v1/admin/policies/{role}"] = {
    "personal": {"display": "masked"},
    "sensitive": {"display": "hidden"},
}

SIGNED_IN_PAGES |= {"/customers/{customer_id}/consent"}
BODIES["/api/v1/customers/{customer_id}/consent"] = {
    "purpose": "marketing",
    "channel": "email",
    "granted": True,
    "note": "matrix test",
}


def routes(app):
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    for item in flatten(app.routes) if flatten else app.routes:
        route = getattr(item, "route", item)
        path = getattr(item, "path", "")
        if path.startswith("/static"):
            continue
        for method in sorted(getattr(item, "methods", None) or ()):
            if method not in ("HEAD", "OPTIONS"):
                yield method, path, route


def rule_of(route):
    dependant = getattr(route, "dependant", None)
    for dependency in dependant.dependencies if dependant else ():
        if isinstance(dependency.call, require):
            return dependency.call.permission
    return None


def test_every_route_has_a_rule(client):
    unruled = []
    for method, path, route in routes(client.app):
        if path.startswith("/api/v1") and rule_of(route) is None:
            unruled.append(f"{method} {path}")
        elif not path.startswith(("/api/v1", "/v1/")) and path not in PUBLIC | SIGNED_IN_PAGES:
            unruled.append(f"{method} {path} (page: add it to PUBLIC or SIGNED_IN_PAGES)")
    assert unruled == []


@pytest.fixture
def actors(db):
    make_token(db, "agent")  # token 1, which DELETE /api/v1/admin/tokens/1 revokes
    tokens = {role: make_token(db, role) for role in ROLES}
    _, write_key = make_source(db)
    return tokens, write_key


def snapshot(db):
    with db.read() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Merge).where(Merge.undone_at.is_(None))
            ),
            session.scalar(
                select(func.count()).select_from(IdentityLink).where(IdentityLink.active)
            ),
        )


def test_api_routes_for_every_actor(client, db, actors):
    tokens, write_key = actors
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [
            call("identify", 0, anonymousId="m-a", traits={"email": "m@x.cn"}),
            call("identify", 1, userId="m-u", traits={"email": "m@x.cn"}),
        ],
    )
    process(db)
    checked = 0
    for method, path, route in routes(client.app):
        if not path.startswith("/api/v1"):
            continue
        permission = rule_of(route)
        send = partial(
            client.request,
            method,
            re.sub(r"\{[^}]+\}", "1", path),
            params={"type": "email", "value": "m@x.cn"} if path.endswith("/lookup") else None,
            json=BODIES.get(path),
        )
        assert send(headers={}).status_code == 401, f"{method} {path} answers anonymous callers"
        wrong = send(headers={"Authorization": f"Bearer {write_key}"})
        assert wrong.status_code == 401, f"{method} {path} accepts a write key as a token"
        # Denied roles first, so that the state they must not change is still there.
        for role in sorted(tokens, key=lambda r: permission in ROLE_PERMISSIONS[r]):
            before = snapshot(db)
            response = send(headers={"Authorization": f"Bearer {tokens[role]}"})
            if permission in ROLE_PERMISSIONS[role]:
                assert response.status_code not in (401, 403), (role, method, path, response.text)
            else:
                assert response.status_code == 403, (role, method, path, response.status_code)
                assert response.json()["error"]["code"] == "forbidden"
                assert snapshot(db) == before, f"a denied {method} {path} changed something"
            checked += 1
    assert checked >= 5 * len(ROLES)


def test_tracking_routes_need_a_write_key_not_a_token(client, db, actors):
    tokens, write_key = actors
    for method, path, _ in routes(client.app):
        if not path.startswith("/v1/"):
            continue
        body = {"batch": []} if path.endswith("/batch") else {"userId": "u", "event": "E"}
        assert client.request(method, path, json=body).status_code == 401
        as_token = client.request(method, path, json=body, auth=(tokens["admin"], ""))
        assert as_token.status_code == 401, f"{path} accepts an API token as a write key"
        assert client.request(method, path, json=body, auth=(write_key, "")).status_code != 401


def test_pages_redirect_anonymous_visitors_to_sign_in(client, db):
    for method, path, _ in routes(client.app):
        if path in SIGNED_IN_PAGES and method == "GET":
            response = client.get(re.sub(r"\{[^}]+\}", "1", path), follow_redirects=False)
            assert response.status_code == 303 and "/login" in response.headers["location"]
