"""``omnicx consent show|set`` against the real database."""

from __future__ import annotations

from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.governance import audit
from omnicx.identity.service import find_customer_by_identifier
from tests.factories import append_calls, call, make_source, process


def test_set_records_an_audited_decision_and_show_lists_it(settings, db):
    source_id, _ = make_source(db)
    append_calls(db, source_id, [call("identify", userId="u-cli")])
    process(db)
    with db.read() as session:
        customer = find_customer_by_identifier(session, "user_id", "u-cli")
    runner = CliRunner()

    result = runner.invoke(
        app,
        [
            "consent",
            "set",
            str(customer),
            "marketing",
            "--grant",
            "--channel",
            "wechat",
            "--note",
            "signed the store form",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"customer {customer}: marketing on wechat granted" in result.output

    shown = runner.invoke(app, ["consent", "show", str(customer)])
    assert shown.exit_code == 0, shown.output
    [marketing_row] = [line for line in shown.output.splitlines() if "│ marketing" in line]
    cells = [c.strip() for c in marketing_row.split("│")[2:-1]]
    # *, email, sms, wechat, phone, web, app: only wechat is decided (and granted).
    assert cells == ["(no)", "(no)", "(no)", "yes", "(no)", "(no)", "(no)"]
    assert "signed the store form" in shown.output and "cli" in shown.output
    with db.read() as session:
        [entry] = audit.search(session, audit.AuditFilter(action="consent.change"))
        assert entry.actor.startswith("user:cli:")
        assert audit.detail_of(entry)["source"] == "cli"


def test_bad_purpose_and_unknown_customer_are_refused(settings, db):
    runner = CliRunner()
    missing = runner.invoke(app, ["consent", "show", "424242"])
    assert missing.exit_code == 2 and "no customer 424242" in missing.output
    source_id, _ = make_source(db)
    append_calls(db, source_id, [call("identify", userId="u-cli-bad")])
    process(db)
    with db.read() as session:
        customer = find_customer_by_identifier(session, "user_id", "u-cli-bad")
    bad = runner.invoke(app, ["consent", "set", str(customer), "spam", "--grant"])
    assert bad.exit_code == 2 and "purpose must be one of" in bad.output
    with db.read() as session:
        assert audit.search(session, audit.AuditFilter(action="consent.change")) == []
