"""Merges (automatic) and unmerges (a person's decision) land in the audit chain."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.governance.audit import AuditFilter, detail_of, search, verify
from omnicx.governance.models import AuditEntry
from omnicx.identity.models import Merge
from tests.factories import append_calls, call, make_source, make_token, process, token_actor


def merged_pair(db) -> tuple[int, int]:
    """Two customers (web visitor, app user) joined by a shared email: (survivor, merged)."""
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [
            call("identify", 0, anonymousId="web-1", traits={"email": "wang.fang@example.cn"}),
            call("identify", 1, userId="crm-77"),
            call("identify", 2, userId="crm-77", traits={"email": "wang.fang@example.cn"}),
        ],
    )
    process(db)
    with db.read() as session:
        (entry,) = search(session, AuditFilter(action="customer.merge"))
        return int(entry.target_id or 0), detail_of(entry)["merged_id"]


def test_an_automatic_merge_is_audited_by_the_system(db):
    survivor, merged = merged_pair(db)
    assert survivor != merged
    with db.read() as session:
        (entry,) = search(session, AuditFilter(action="customer.merge"))
        assert entry.actor == "system"
        assert "wang.fang" not in entry.detail  # ids, never the identifier values
        assert verify(session).ok


def test_an_unmerge_through_the_api_is_audited_with_who_and_why(client, db):
    survivor, merged = merged_pair(db)
    token = make_token(db, "supervisor")
    response = client.get(
        f"/api/v1/customers/{survivor}", headers={"Authorization": f"Bearer {token}"}
    )
    merge_id = response.json()["merges"][0]["id"]
    response = client.post(
        f"/api/v1/customers/{survivor}/unmerge",
        headers={"Authorization": f"Bearer {token}"},
        json={"merge_id": merge_id, "reason": "two people, one family tablet"},
    )
    assert response.status_code == 200, response.text
    with db.read() as session:
        (entry,) = search(session, AuditFilter(action="customer.unmerge"))
        detail = detail_of(entry)
        assert entry.actor == token_actor(db) and entry.actor_role == "supervisor"
        assert entry.target_id == str(survivor)
        assert detail["merge_id"] == merge_id
        assert detail["reason"] == "two people, one family tablet"
        assert merged in detail["new_customer_ids"]
        assert verify(session).ok


def test_an_unmerge_from_the_cli_names_the_operator(db):
    survivor, _ = merged_pair(db)
    with db.read() as session:
        merge_id = session.scalar(select(Merge.id))
    result = CliRunner().invoke(
        app,
        [
            "identity",
            "unmerge",
            str(survivor),
            "--merge-id",
            str(merge_id),
            "--reason",
            "wrong merge",
            "--actor",
            "li.na",
        ],
    )
    assert result.exit_code == 0, result.output
    with db.read() as session:
        actors = set(
            session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "customer.unmerge"))
        )
    assert actors == {"user:cli:li.na"}
