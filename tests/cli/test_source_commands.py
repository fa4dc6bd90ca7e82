"""``omnicx sources``: create, list, rotate-key, set-origins, through the real command.

Keys are checked against the running application (a fresh app per check, so no write-key
cache hides a change), and every change must be in the audit log.
"""

from __future__ import annotations

import time

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.governance.models import AuditEntry
from omnicx.web.app import create_app
from tests.factories import call

SHOP = "https://shop.example.cn"


def omnicx(*args: str):
    result = CliRunner().invoke(app, list(args))
    # A user's mistake ends in SystemExit (typer.Exit), never another exception.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def new_source(name: str, *options: str) -> str:
    result = omnicx("sources", "create", name, *options)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def status_of(settings, key: str, origin: str | None = None) -> int:
    """What a track call with ``key`` gets from a freshly started application."""
    body = {**call("track", userId="u-1"), "writeKey": key}
    headers = {"Origin": origin} if origin else {}
    with TestClient(create_app(settings, background=False)) as client:
        return client.post("/v1/track", json=body, headers=headers).status_code


def audit_entries(db, action: str) -> list[AuditEntry]:
    with db.read() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
        session.expunge_all()
        return list(rows)


def test_creating_a_source_twice_is_one_line_naming_the_fix(settings, db):
    key = new_source("website")
    assert key.startswith("wk_")

    again = omnicx("sources", "create", "website")

    assert again.exit_code == 1
    lines = again.output.strip().splitlines()
    assert len(lines) == 1, again.output
    assert "exists" in lines[0] and "omnicx sources rotate-key website" in lines[0]
    assert "Traceback" not in again.output
    assert status_of(settings, key) == 200  # the first key is untouched


def test_user_mistakes_in_the_sources_group_are_one_line_errors(settings, db):
    new_source("website")
    mistakes = [
        (["sources", "create", "bad/name"], "source name"),
        (["sources", "create", "site", "--kind", "x" * 40], "source kind"),
        (["sources", "create", "site", "--origin", "https://例子.cn"], "punycode"),
        (["sources", "create", "site", "--origin", "shop.example.cn"], "not an origin"),
        (["sources", "create", "site", "--origin", "https://shop.example.cn/path"], "no path"),
        (["sources", "rotate-key", "nope"], "no source named 'nope'"),
        (["sources", "rotate-key", "website", "--grace-hours", "-1"], "grace period"),
        (["sources", "set-origins", "nope", "--origin", SHOP], "no source named"),
        (["sources", "set-origins", "website"], "--origin"),
        (["sources", "set-origins", "website", "--origin", SHOP, "--none"], "cannot go together"),
    ]
    for args, expected in mistakes:
        result = omnicx(*args)
        assert result.exit_code == 1, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, (args, result.output)
        assert expected in result.output, (args, result.output)
    listed = omnicx("sources", "list").output
    assert "website" in listed and "│ site " not in listed


def test_rotated_key_replaces_the_old_one_after_the_grace_period(settings, db):
    old = new_source("website")

    rotated = omnicx("sources", "rotate-key", "website", "--grace-hours", "0.001")  # 3.6 s
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.strip().splitlines()[-1]
    assert new.startswith("wk_") and new != old
    assert "old key works until" in rotated.output

    assert status_of(settings, new) == 200
    assert status_of(settings, old) == 200  # in its grace period
    listed = omnicx("sources", "list").output
    assert new[:8] in listed and old[:8] not in listed
    time.sleep(4)
    assert status_of(settings, old) == 401
    assert status_of(settings, new) == 200


def test_grace_zero_stops_the_old_key_and_a_second_rotation_ends_the_first_grace(settings, db):
    first = new_source("website")
    second = omnicx("sources", "rotate-key", "website").output.strip().splitlines()[-1]
    assert status_of(settings, first) == 200  # default grace: 24 hours
    third = omnicx("sources", "rotate-key", "website", "--grace-hours", "0")
    third_key = third.output.strip().splitlines()[-1]
    assert third.exit_code == 0, third.output
    assert status_of(settings, first) == 401
    assert status_of(settings, second) == 401
    assert status_of(settings, third_key) == 200


def test_write_keys_stay_hashed_and_every_change_is_audited(settings, db):
    key = new_source("website", "--origin", SHOP)
    rotated = omnicx("sources", "rotate-key", "website", "--grace-hours", "2")
    new = rotated.output.strip().splitlines()[-1]
    changed = omnicx("sources", "set-origins", "website", "--origin", "http://localhost:3000")
    assert changed.exit_code == 0, changed.output
    assert "http://localhost:3000" in changed.output

    [created] = audit_entries(db, "source.create")
    [rotation] = audit_entries(db, "source.rotate_key")
    [origins] = audit_entries(db, "source.set_origins")
    for entry in (created, rotation, origins):
        assert entry.actor.startswith("user:cli:") and entry.target_type == "source"
        assert key not in entry.detail and new not in entry.detail
    assert orjson.loads(created.detail)["origins"] == [SHOP]
    assert orjson.loads(rotation.detail)["grace_hours"] == 2
    assert orjson.loads(origins.detail) == {
        "name": "website",
        "before": [SHOP],
        "after": ["http://localhost:3000"],
    }
    with db.read() as session:
        from omnicx.ingest.models import Source

        stored = session.scalars(select(Source)).one()
        assert key not in (stored.write_key_hash, stored.previous_key_hash)
        assert new != stored.write_key_hash and len(stored.write_key_hash) == 64

    # The origins apply to the application: the old origin is refused, the new one taken.
    assert status_of(settings, new, SHOP) == 403
    assert status_of(settings, new, "http://localhost:3000") == 200
    cleared = omnicx("sources", "set-origins", "website", "--none")
    assert cleared.exit_code == 0 and "none" in cleared.output
    assert status_of(settings, new, "http://localhost:3000") == 403
