"""``omnicx privacy`` and ``omnicx retention`` from the shell: the export bundle lands in
a file only its owner can read, an erasure completes and is listed, the suppression
list is managed, and a retention dry run reports without removing."""

from __future__ import annotations

import json
import stat

from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from omnicx.cli.main import app
from omnicx.core.eventlog.models import EventRow
from omnicx.governance import audit
from omnicx.governance.models import PrivacyRequest, RetentionRun, Suppression
from tests.factories import append_calls, call, make_source, process

runner = CliRunner()


def test_export_then_erase_from_the_shell(db, tmp_path):
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [
            call("identify", 0, anonymousId="cli-anon", traits={"email": "cli@x.cn"}),
            call("identify", 1, userId="cli-user", traits={"email": "cli@x.cn", "name": "王五"}),
        ],
    )
    process(db)
    out = tmp_path / "bundle.json"

    exported = runner.invoke(
        app,
        [
            "privacy",
            "export",
            "--type",
            "email",
            "--value",
            "CLI@x.cn",
            "--reason",
            "SAR 7",
            "--out",
            str(out),
        ],
    )

    assert exported.exit_code == 0, exported.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    bundle = json.loads(out.read_text())
    assert {i["value"] for i in bundle["data"]["identity"]["identifiers"]} == {
        "cli-anon",
        "cli-user",
        "cli@x.cn",
    }

    erased = runner.invoke(
        app,
        [
            "privacy",
            "erase",
            "--customer",
            str(bundle["customer_id"]),
            "--reason",
            "SAR 8",
            "--yes",
        ],
    )
    assert erased.exit_code == 0, erased.output
    assert "completed" in erased.output
    listed = runner.invoke(app, ["privacy", "list", "--status", "completed"])
    assert listed.exit_code == 0 and "erase" in listed.output and "export" in listed.output
    with db.read() as session:
        statuses = set(session.scalars(select(PrivacyRequest.status)))
        assert statuses == {"completed"}
        assert session.scalar(select(func.count()).select_from(Suppression)) == 3

    missing = runner.invoke(
        app, ["privacy", "erase", "--customer", "999", "--reason", "x", "--yes"]
    )
    assert missing.exit_code == 2 and "no customer 999" in missing.output


def _suppress_for_marketing(phone: str) -> Result:
    return runner.invoke(
        app, ["privacy", "suppress", "--type", "phone", "--value", phone, "--scope", "marketing"]
    )


def test_suppression_list_from_the_shell(db):
    added = _suppress_for_marketing("13800138000")
    assert added.exit_code == 0 and "suppressed" in added.output
    again = _suppress_for_marketing("+86 138 0013 8000")
    assert "already suppressed" in again.output
    listed = runner.invoke(app, ["privacy", "suppressions"])
    assert "marketing" in listed.output and "13800138000" not in listed.output
    with db.read() as session:
        (entry,) = session.scalars(select(Suppression.id))
    removed = runner.invoke(app, ["privacy", "unsuppress", str(entry)])
    assert removed.exit_code == 0
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0
        changes = audit.search(session, audit.AuditFilter(action="suppression."))
        # Audited as through the API: the entry's id, never the value.
        assert [(e.action, e.target_id) for e in changes] == [
            ("suppression.remove", str(entry)),
            ("suppression.add", str(entry)),
        ]
        assert all("13800138000" not in e.detail for e in changes)


def test_retention_dry_run_from_the_shell(db):
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [{"type": "page", "name": "Old", "userId": "u", "timestamp": "2019-01-01T00:00:00Z"}],
    )
    process(db)

    result = runner.invoke(app, ["retention", "run", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "dry run" in result.output
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(EventRow)) == 1
        run = session.scalar(select(RetentionRun))
        assert run is not None and run.dry_run
    shown = runner.invoke(app, ["retention", "show"])
    assert shown.exit_code == 0 and "behaviour_events" in shown.output
