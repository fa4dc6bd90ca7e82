"""``omnicx audit list`` and ``omnicx outbox list`` read well in an 80-column terminal:
cells wrap instead of being cut to ``…``, details are ``key: value`` text, and a webhook's
row says where it goes."""

from __future__ import annotations

from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.cli.operator import operator
from omnicx.core.outbox import enqueue
from omnicx.governance import audit


def run(*args: str, columns: int = 80):
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    assert all(len(line) <= columns for line in result.stdout.splitlines()), result.stdout
    return result.stdout


def test_audit_list_wraps_cells_and_shows_details_as_text(db):
    with db.write() as session:
        audit.record(
            session,
            operator("zhou.min@corp.cn"),
            "customer.reveal",
            target_type="customer",
            target_id=3521,
            detail={
                "field": "traits.phone",
                "reason": "caller asked to confirm the number",
                "unmasked": False,
                "fields": [],
                "via": "api.customers.reveal",
            },
            ip="203.0.113.77",
        )
    shown = run("audit", "list", "--action", "customer.")
    assert "…" not in shown
    assert "unmasked: no" in shown and "fields: none" in shown
    assert "False" not in shown and "[]" not in shown
    for text in ("customer.reveal", "customer 3521", "203.0.113.77", "field: traits.phone"):
        assert text in shown, text


def test_outbox_list_names_where_a_webhook_goes_and_never_its_secret(db):
    with db.write() as session:
        enqueue(
            session,
            "webhook",
            {"url": "https://hooks.example.cn/omnicx", "secret": "s3cret", "body": {}},
        )
        enqueue(session, "sms", {"text": "您的订单已发货"}, customer_id=7, purpose="service")
    narrow = run("outbox", "list")
    assert "https://hooks.exam" in narrow and "customer 7" in narrow  # wrapped, not cut
    assert "s3cret" not in narrow and "…" not in narrow
    wide = run("outbox", "list", columns=120)
    assert "https://hooks.example.cn/omnicx" in wide and "customer 7 service/*" in wide
