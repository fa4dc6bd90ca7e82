"""Every route × every actor, from the application's own route table.

Actors: anonymous, a write key, a token of each role, and an admin token scoped to each
single permission. A new ``/api/v1`` route without a permission rule fails here; a new
page or public route must be added to the lists below on purpose. A denied call must
answer 403 and change nothing (no row anywhere that matters, not even an audit entry).
"""

from __future__ import annotations

import re
from functools import partial

import fastapi.routing
import pytest
from sqlalchemy import text

from omnicx.governance.api import require
from omnicx.governance.models import ROLES
from omnicx.governance.permissions import ROLE_PERMISSIONS, Permission
from omnicx.governance.service import create_token
from tests.factories import append_calls, call, make_source, make_token, process

PUBLIC = {"/", "/login", "/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
SIGNED_IN_PAGES = {"/customers", "/customers/{customer_id}", "/logout"}
BODIES = {"/api/v1/customers/{customer_id}/unmerge": {"merge_id": 1, "reason": "matrix test"}}
# Sign-in, account and administration pages (auth_pages.py, admin_pages.py).
PUBLIC |= {"/login/code"}
SIGNED_IN_PAGES |= {"/account", "/account/totp/setup", "/account/totp/confirm"}
SIGNED_IN_PAGES |= {"/account/language"}  # the user's language (web/auth_pages.py)
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
# The console's ticket pages (web/console/tickets.py).
SIGNED_IN_PAGES |= {"/desk/tickets", "/desk/tickets/{ticket_id}"}
SIGNED_IN_PAGES |= {"/desk/tickets/{ticket_id}/comments", "/desk/tickets/{ticket_id}/conversations"}
# The agent console (web/console/): the inbox page; its fragment and its event stream are
# fetched by scripts, so they answer 401 instead of sending anyone to the sign-in page.
SIGNED_IN_PAGES |= {"/desk"}
SIGNED_IN_FRAGMENTS = {"/desk/rows", "/desk/live"}
# Desk SLA (desk/sla/api.py): a calendar and a policy on calendar 1 (created by the
# first allowed POST; the policy's create answers 404 until then, never 401/403).
BODIES["/api/v1/calendars"] = {"name": "矩阵日历", "hours": {"mon": [["09:00", "18:00"]]}}
BODIES["/api/v1/calendars/{calendar_id}"] = {"extra_holidays": ["2027-02-08"]}
BODIES["/api/v1/sla-policies"] = {
    "name": "矩阵策略",
    "calendar_id": 1,
    "first_response_seconds": 60,
}
BODIES["/api/v1/sla-policies/{policy_id}"] = {"enabled": False}
# Routing rules (desk/rules_api.py): on team 1, created by the desk's matrix setup.
BODIES["/api/v1/routing-rules"] = {"team_id": 1, "kind": "always", "position": 500}
# Tickets (desk/tickets/api.py).
BODIES["/api/v1/tickets"] = {"title": "矩阵工单", "type": "inquiry"}
BODIES["/api/v1/tickets/{ticket_id}"] = {"priority": "high"}
BODIES["/api/v1/tickets/{ticket_id}/comments"] = {"text": "矩阵备注"}
BODIES["/api/v1/tickets/{ticket_id}/conversations"] = {"conversation_id": 1}
BODIES["/api/v1/conversations/{conversation_id}/tickets"] = {"title": "矩阵工单"}
# Canned replies and macros (desk/canned/api.py).
BODIES["/api/v1/canned-replies"] = {"code": "matrix", "title": "矩阵", "body": "您好"}
BODIES["/api/v1/canned-replies/{reply_id}"] = {"title": "矩阵回复"}
BODIES["/api/v1/conversations/{conversation_id}/canned-replies/render"] = {"body": "您好"}
BODIES["/api/v1/macros"] = {
    "name": "矩阵宏",
    "actions": [{"action": "priority", "priority": "high"}],
}
# Channels (channels/api.py); the web chat widget's script is public code, its socket
# (/widget/ws) checks the channel's token and origins itself (tests/channels).
BODIES["/api/v1/channels"] = {"name": "矩阵测试客服", "origins": ["https://matrix.example.cn"]}
PUBLIC |= {"/widget.js"}
# A visitor's files (channels/webchat/attachments.py): the upload checks the channel's
# token, origins and the signed visitor as the socket does; a download needs the signed
# link its thread's frame carried (tests/channels/test_webchat_files.py).
PUBLIC |= {"/widget/attachments", "/widget/attachments/{attachment_id}"}
# WeChat's callback (channels/wechat/api.py): WeChat's signature over the channel's token,
# a timestamp window and nonces stand for a sign-in (tests/channels/test_wechat_callback.py).
PUBLIC |= {"/wechat/callback/{token}"}
# SMS (channels/sms/api.py): Twilio's X-Twilio-Signature under the channel's auth token,
# over the channel's public URL, stands for a sign-in (tests/channels/test_sms_inbound.py,
# test_sms_replies.py for the status callback).
PUBLIC |= {"/sms/twilio/{token}", "/sms/twilio/{token}/status"}
# The phone channel's CTI webhook (channels/phone/api.py): an HMAC-SHA256 over the timestamp
# and body under the channel's secret (or its bearer token) stands for a sign-in
# (tests/channels/test_phone_webhook.py).
PUBLIC |= {"/phone/cti/{token}"}
# The console's conversation page, its fragments and posts (web/conversation_*.py):
# signed in, desk:read or desk:reply, row access (tests/web/test_conversation_pages.py).
CONVERSATION = "/desk/conversations/{conversation_id}"
SIGNED_IN_PAGES |= {CONVERSATION} | {
    f"{CONVERSATION}/{part}"
    for part in (
        *("summary", "thread", "customer", "canned", "messages", "macro", "assign"),
        *("transfer", "snooze", "status", "priority", "labels", "tickets", "files"),
    )
}
# A file of the thread, downloaded in the console (web/console/files.py).
SIGNED_IN_PAGES |= {"/desk/attachments/{attachment_id}"}
# The review queues (desk/review/api.py, web/console/review.py): supervisors and admins.
SIGNED_IN_PAGES |= {"/review", "/review/backfill/{item_id}/resolve"}
SIGNED_IN_PAGES |= {"/review/unmatched/{item_id}/link", "/review/unmatched/{item_id}/dismiss"}
SIGNED_IN_FRAGMENTS |= {"/review/badge"}
BODIES["/api/v1/review/unmatched/{item_id}/link"] = {"customer_id": 1, "note": "矩阵"}
BODIES["/api/v1/review/unmatched/{item_id}/dismiss"] = {"note": "矩阵"}
BODIES["/api/v1/review/backfill/{item_id}/resolve"] = {"note": "矩阵"}
# Routes outside /api/v1 that take a bearer token and a permission like the API: every
# actor below is tried on them too (web/metrics.py: metrics:read, admin only).
TOKEN_ROUTES = {"/metrics"}
BODIES["/api/v1/customers/{customer_id}/consent"] = {
    "purpose": "marketing",
    "channel": "email",
    "granted": True,
    "note": "matrix test",
}


# The desk (desk/api.py); actors that differ by team and ownership are tried below.
BODIES["/api/v1/conversations/{conversation_id}/messages"] = {"kind": "note", "text": "矩阵"}
BODIES["/api/v1/conversations/{conversation_id}/assign"] = {"unassign": True}
BODIES["/api/v1/conversations/{conversation_id}/status"] = {"status": "pending"}
BODIES["/api/v1/conversations/{conversation_id}/labels"] = {"labels": ["矩阵"]}
BODIES["/api/v1/conversations/{conversation_id}/snooze"] = {"until": "2099-01-01T00:00:00Z"}
BODIES["/api/v1/conversations/{conversation_id}/handoff"] = {"reason": "矩阵"}
BODIES["/api/v1/teams"] = {"name": "矩阵组"}
BODIES["/api/v1/teams/{team_id}/members"] = {"user_id": 1}
BODIES["/api/v1/agents/me/presence"] = {"presence": "online"}


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
        if (path.startswith("/api/v1") or path in TOKEN_ROUTES) and rule_of(route) is None:
            unruled.append(f"{method} {path}")
        elif not path.startswith(("/api/v1", "/v1/")) and path not in (
            PUBLIC | SIGNED_IN_PAGES | SIGNED_IN_FRAGMENTS | TOKEN_ROUTES
        ):
            unruled.append(f"{method} {path} (page: add it to PUBLIC or SIGNED_IN_PAGES)")
    assert unruled == []


@pytest.fixture
def actors(db):
    """name → (bearer token, the permissions it carries); and a write key."""
    make_token(db, "agent")  # token 1, which DELETE /api/v1/admin/tokens/1 revokes
    tokens = {role: (make_token(db, role), ROLE_PERMISSIONS[role]) for role in ROLES}
    with db.write() as session:
        for permission in Permission:
            token = create_token(session, "scoped", "admin", scopes=[permission.value])
            tokens[f"admin scoped to {permission.value}"] = (token, frozenset({permission}))
    _, write_key = make_source(db)
    return tokens, write_key


# What a call can change, read in one round trip.
STATE = "SELECT " + ", ".join(
    f"({query})"
    for query in (
        "SELECT count(*) FROM customer_merges WHERE undone_at IS NULL",
        "SELECT count(*) FROM identity_links WHERE active",
        "SELECT count(*) FROM customers WHERE erased_at IS NOT NULL",
        "SELECT count(*) FROM users WHERE disabled_at IS NOT NULL",
        "SELECT count(*) FROM users",
        "SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL",
        "SELECT count(*) FROM access_policies",
        "SELECT count(*) FROM consents",
        "SELECT count(*) FROM suppressions",
        "SELECT count(*) FROM privacy_requests",
        "SELECT count(*) FROM retention_runs",
        "SELECT count(*) FROM outbox",
        "SELECT count(*) FROM channels",
        "SELECT count(*) FROM audit_log",
        "SELECT count(*) FROM desk_teams",
        "SELECT count(*) FROM desk_team_members",
        "SELECT count(*) FROM desk_agents",
        "SELECT count(*) FROM desk_messages",
        "SELECT count(*) FROM desk_attachments",
        "SELECT count(*) FROM desk_conversation_history",
        "SELECT count(*) FROM desk_calendars",
        "SELECT count(*) FROM desk_sla_policies",
        "SELECT max(updated_at) FROM desk_calendars",
        "SELECT max(updated_at) FROM desk_sla_policies",
        "SELECT count(*) FROM desk_canned_replies",
        "SELECT count(*) FROM desk_macros",
        "SELECT count(*) FROM desk_tickets",
        "SELECT count(*) FROM desk_routing_rules",
        "SELECT count(*) FROM desk_ticket_comments",
        "SELECT count(*) FROM desk_ticket_history",
        "SELECT count(*) FROM review_unmatched WHERE status <> 'open'",
        "SELECT count(*) FROM review_backfill WHERE status <> 'open'",
        "SELECT count(*) FROM events",
    )
)


def snapshot(db):
    with db.read() as session:
        return tuple(session.execute(text(STATE)).one())


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
        if not path.startswith("/api/v1") and path not in TOKEN_ROUTES:
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
        # Denied actors first, so that the state they must not change is still there.
        for actor in sorted(tokens, key=lambda a: permission in tokens[a][1]):
            token, permissions = tokens[actor]
            before = snapshot(db)
            response = send(headers={"Authorization": f"Bearer {token}"})
            if permission in permissions:
                assert response.status_code not in (401, 403), (actor, method, path, response.text)
            else:
                assert response.status_code == 403, (actor, method, path, response.status_code)
                assert response.json()["error"]["code"] == "forbidden"
                assert snapshot(db) == before, f"a denied {method} {path} changed something"
            checked += 1
    assert checked >= 5 * len(tokens)
    # Who may scrape /metrics, said once (the loop above proved the others get a 403).
    scrapers = {
        a for a, (_, permissions) in tokens.items() if Permission.METRICS_READ in permissions
    }
    assert scrapers == {"admin", "admin scoped to metrics:read"}


def test_tracking_routes_need_a_write_key_not_a_token(client, db, actors):
    tokens, write_key = actors
    for method, path, _ in routes(client.app):
        if not path.startswith("/v1/"):
            continue
        body = {"batch": []} if path.endswith("/batch") else {"userId": "u", "event": "E"}
        assert client.request(method, path, json=body).status_code == 401
        as_token = client.request(method, path, json=body, auth=(tokens["admin"][0], ""))
        assert as_token.status_code == 401, f"{path} accepts an API token as a write key"
        assert client.request(method, path, json=body, auth=(write_key, "")).status_code != 401


def test_pages_redirect_anonymous_visitors_to_sign_in(client, db):
    for method, path, _ in routes(client.app):
        if path in SIGNED_IN_PAGES and method == "GET":
            response = client.get(re.sub(r"\{[^}]+\}", "1", path), follow_redirects=False)
            assert response.status_code == 303 and "/login" in response.headers["location"]


def test_fragments_answer_anonymous_visitors_401(client, db):
    for path in SIGNED_IN_FRAGMENTS:
        assert client.get(path, follow_redirects=False).status_code == 401, path


# -- the desk's row-level access: actors that differ by team and ownership ----------------

DESK_ROUTES = [
    ("GET", "/api/v1/conversations/{id}", None),
    ("GET", "/api/v1/conversations/{id}/messages", None),
    ("POST", "/api/v1/conversations/{id}/messages", {"kind": "note", "text": "跟进"}),
    ("POST", "/api/v1/conversations/{id}/labels", {"labels": ["售后"]}),
    ("POST", "/api/v1/conversations/{id}/status", {"status": "pending"}),
    ("POST", "/api/v1/conversations/{id}/snooze", {"until": "2099-01-01T00:00:00Z"}),
    ("POST", "/api/v1/conversations/{id}/assign", {"unassign": True}),
]


def test_desk_routes_by_team_and_ownership(client, db):
    """Team A's conversation: its assignee and team A see it, team B gets 404 on every
    route (and changes nothing), a supervisor sees it; only a manager unassigns."""
    from tests.desk.factories import Customers, conversations, make_agent, make_rule

    assignee, assignee_token = make_agent(db, "A组")
    _, teammate_token = make_agent(db, "A组", online=False)
    _, outsider_token = make_agent(db, "B组")
    _, supervisor_token = make_agent(db, None, role="supervisor", online=False)
    make_rule(db, "A组")
    Customers(db).write("我要投诉", thread="m-1")
    process(db)
    [conversation] = conversations(db)
    assert conversation.assignee_id == assignee
    expected = {
        "assignee": (assignee_token, {"assign": 403}),
        "agent of team A": (teammate_token, {"assign": 403}),
        "agent of team B": (outsider_token, {"*": 404}),
        "supervisor": (supervisor_token, {}),
    }
    for actor, (token, special) in expected.items():
        for method, path, body in DESK_ROUTES:
            url = path.replace("{id}", str(conversation.id))
            before = snapshot(db)
            response = client.request(
                method, url, json=body, headers={"Authorization": f"Bearer {token}"}
            )
            want = special.get(path.rsplit("/", 1)[-1], special.get("*"))
            if want is None:
                assert response.status_code in (200, 201), (actor, method, url, response.text)
            else:
                assert response.status_code == want, (actor, method, url, response.text)
                assert response.json()["error"]["code"] in ("not_found", "forbidden")
                if method == "POST":
                    assert snapshot(db) == before, f"{actor}: a refused {url} changed something"
    listed = {
        actor: [
            c["id"]
            for c in client.get(
                "/api/v1/conversations", headers={"Authorization": f"Bearer {token}"}
            ).json()["items"]
        ]
        for actor, (token, _) in expected.items()
    }
    assert listed == {
        "assignee": [conversation.id],
        "agent of team A": [conversation.id],
        "agent of team B": [],
        "supervisor": [conversation.id],
    }
