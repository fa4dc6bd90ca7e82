"""``omnicx identity find`` prints just an id; ``identity merges`` lists the merges that
made a customer, with the id ``unmerge --merge-id`` takes."""

from __future__ import annotations

from typer.testing import CliRunner

from omnicx.cli.main import app
from tests.factories import append_calls, call, make_source, process


def three_visits(db) -> None:
    """An anonymous browser, an app user, then a sign-in that ties both to one email."""
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [
            call("identify", 0, anonymousId="web-1", traits={"email": "li.na@example.cn"}),
            call("identify", 1, userId="crm-88", traits={"phone": "139 1234 5678"}),
            call("page", 2, anonymousId="tablet-3"),
            call("identify", 3, userId="crm-88", traits={"email": "li.na@example.cn"}),
            call("identify", 4, anonymousId="tablet-3", userId="crm-88"),
        ],
    )
    process(db)


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_find_prints_only_the_id_of_any_spelling(db):
    three_visits(db)
    found = run("identity", "find", "phone", "+86 139-1234-5678")
    assert found.exit_code == 0, found.output
    customer = found.stdout.strip()
    assert customer.isdigit()
    assert run("identity", "find", "email", " Li.Na@example.cn").stdout.strip() == customer
    missing = run("identity", "find", "phone", "13000000000")
    assert missing.exit_code == 1
    assert missing.stdout == "" and "no customer" in missing.stderr


def test_merges_lists_every_merge_and_unmerge_takes_its_id(db):
    three_visits(db)
    customer = run("identity", "find", "user_id", "crm-88").stdout.strip()
    ids = run("identity", "merges", customer, "--ids").stdout.split()
    assert len(ids) == 2, ids  # the web visitor and the tablet folded in
    table = run("identity", "merges", customer)
    assert table.exit_code == 0
    assert "anonymous_id" in table.stdout and "li.na" not in table.stdout
    undone = run("identity", "unmerge", customer, "--merge-id", ids[-1], "--reason", "家人的平板")
    assert undone.exit_code == 0, undone.output
    assert run("identity", "merges", customer, "--ids").stdout.split() == ids[:1]
    assert run("identity", "find", "anonymous_id", "tablet-3").stdout.strip() != customer
    nobody = run("identity", "merges", "999999")
    assert nobody.exit_code == 1 and "no customer" in nobody.stderr
