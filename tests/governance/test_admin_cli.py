"""``omnicx users``, ``omnicx tokens`` and ``omnicx audit`` against a real database."""

from __future__ import annotations

import csv

from sqlalchemy import update
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.governance import totp
from omnicx.governance.audit import AuditFilter, search
from omnicx.governance.models import ApiToken, AuditEntry, User
from omnicx.governance.service import authenticate_token


def omnicx(*args):
    return CliRunner().invoke(app, list(args))


def test_users_from_the_shell(settings, db):
    created = omnicx("users", "create", "Chen@corp.cn", "--role", "agent", "--name", "陈")
    assert created.exit_code == 0, created.output
    assert "password (shown once)" in created.output
    assert omnicx("users", "set-role", "chen@corp.cn", "senior_agent").exit_code == 0
    assert omnicx("users", "set-role", "chen@corp.cn", "boss").exit_code == 2
    with db.write() as session:
        user = session.query(User).filter_by(email="chen@corp.cn").one()
        user.totp_secret = totp.new_secret()
    assert omnicx("users", "totp-reset", "chen@corp.cn").exit_code == 0
    assert omnicx("users", "disable", "chen@corp.cn").exit_code == 0
    listed = omnicx("users", "list")
    assert "chen@corp.cn" in listed.output and "disabled" in listed.output
    assert omnicx("users", "disable", "nobody@corp.cn").exit_code == 2
    with db.read() as session:
        row = session.query(User).filter_by(email="chen@corp.cn").one()
        assert row.role == "senior_agent" and row.totp_secret is None and row.disabled_at
        actions = [e.action for e in search(session, AuditFilter(action="user."))]
        actors = {e.actor for e in search(session, AuditFilter(action="user."))}
    assert actions == ["user.disable", "user.totp_reset", "user.role_change", "user.create"]
    assert len(actors) == 1 and actors.pop().startswith("user:cli:")


def test_scoped_tokens_from_the_shell(settings, db):
    made = omnicx(
        "tokens", "create", "--name", "bi", "--role", "supervisor", "--scope", "audit:read"
    )
    assert made.exit_code == 0, made.output
    token = made.output.strip()  # only the token on stdout, for TOKEN=$(omnicx tokens create)
    with db.read() as session:
        principal = authenticate_token(session, token)
    assert principal.role == "supervisor" and [s.value for s in principal.scopes] == ["audit:read"]
    refused = omnicx("tokens", "create", "--role", "agent", "--scope", "admin:manage")
    assert refused.exit_code == 2 and "does not have admin:manage" in refused.output
    assert "bi" in omnicx("tokens", "list").output
    with db.read() as session:
        token_id = session.query(ApiToken).filter_by(name="bi").one().id
    assert omnicx("tokens", "revoke", str(token_id)).exit_code == 0
    assert "bi" not in omnicx("tokens", "list").output.split()
    assert "bi" in omnicx("tokens", "list", "--all").output


def test_audit_from_the_shell(settings, db, tmp_path):
    omnicx("users", "create", "a@corp.cn", "--role", "admin")
    omnicx("users", "create", "b@corp.cn")
    listed = omnicx("audit", "list", "--action", "user.")
    assert listed.exit_code == 0 and listed.output.count("user.create") == 2
    assert omnicx("audit", "verify").exit_code == 0
    out = tmp_path / "audit.csv"
    exported = omnicx("audit", "export", str(out), "--action", "user.create")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["action"] for r in rows] == ["user.create", "user.create"]
    assert omnicx("audit", "list", "--action", "audit.export").output.count("audit.export") == 1
    with db.write() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == 1).values(detail="{}"))
    broken = omnicx("audit", "verify")
    assert broken.exit_code == 1 and "broken at entry 1" in broken.output
    assert omnicx("audit", "list", "--since", "someday").exit_code == 2
