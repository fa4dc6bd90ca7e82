"""Customer exports (API and command), masked per role and audited with the row count."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.governance.audit import AuditFilter, detail_of, search
from tests.factories import append_calls, call, make_source, process
from tests.governance.masking_people import (
    EMAIL,
    ID_CARD,
    MASKED,
    NAME,
    PHONE,
    seed_person,
    token_for,
)


def exports(db):
    with db.read() as session:
        return [
            (e.actor_role, detail_of(e))
            for e in search(session, AuditFilter(action="customers.export"))
        ]


def rows_of(text):
    return list(csv.DictReader(io.StringIO(text)))


def add_strangers(db, n):
    source_id, _ = make_source(db)
    append_calls(
        db,
        source_id,
        [
            call("identify", i, userId=f"stranger-{i}", traits={"email": f"s{i}@corp.cn"})
            for i in range(n)
        ],
    )
    process(db)


def test_the_csv_is_masked_for_an_agent_and_plain_for_an_admin(client, db):
    customer_id = seed_person(client, db)
    add_strangers(db, 3)
    agent = client.get("/api/v1/customers/export.csv", headers=token_for(db, "agent"))
    assert agent.status_code == 200 and agent.headers["content-type"].startswith("text/csv")
    assert "attachment" in agent.headers["content-disposition"]
    rows = rows_of(agent.text)
    assert len(rows) == 4
    [person] = [r for r in rows if r["id"] == str(customer_id)]
    assert person["name"] == MASKED["name"] and person["email"] == MASKED["email"]
    assert person["phone"] == "+86 " + MASKED["phone"]  # a phone, not a formula
    assert "user_id:crm-masking-1" in person["identifiers"]
    traits = json.loads(person["traits"])
    assert traits["tier"] == "gold" and "id_card" not in traits
    assert EMAIL not in agent.text and NAME not in agent.text and ID_CARD not in agent.text

    admin = client.get(
        "/api/v1/customers/export.csv",
        params={"ids": f"{customer_id}"},
        headers=token_for(db, "admin"),
    )
    [person] = rows_of(admin.text)
    assert (person["name"], person["email"], person["phone"]) == (NAME, EMAIL, PHONE)
    assert ID_CARD not in admin.text

    assert exports(db) == [
        ("admin", {"via": "api", "rows": 1, "filters": {"ids": 1, "limit": 1000}}),
        ("agent", {"via": "api", "rows": 4, "filters": {"ids": None, "limit": 1000}}),
    ]


def test_export_filters_and_limits(client, db):
    seed_person(client, db)  # events in January 2026
    add_strangers(db, 5)  # events from 2026-01-01 00:00 on, one a minute
    auth = token_for(db, "supervisor")
    limited = rows_of(
        client.get("/api/v1/customers/export.csv", params={"limit": 2}, headers=auth).text
    )
    assert len(limited) == 2
    since = client.get(
        "/api/v1/customers/export.csv", params={"since": "2026-01-01T08:30:00Z"}, headers=auth
    )
    assert [r["email"] for r in rows_of(since.text)] == [EMAIL]
    bad = client.get("/api/v1/customers/export.csv", params={"ids": "1,x"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "ids"
    too_many = client.get("/api/v1/customers/export.csv", params={"limit": 10_001}, headers=auth)
    assert too_many.status_code == 422
    analyst = client.get("/api/v1/customers/export.csv", headers=token_for(db, "analyst"))
    assert analyst.status_code == 403


def test_the_command_exports_as_a_role_with_a_progress_bar(client, db, tmp_path):
    customer_id = seed_person(client, db)
    out = tmp_path / "customers.csv"
    result = CliRunner().invoke(app, ["customers", "export", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "export as agent" in result.output  # the progress bar
    [person] = [r for r in rows_of(out.read_text(encoding="utf-8")) if r["id"] == str(customer_id)]
    assert person["email"] == MASKED["email"]
    to_stdout = CliRunner().invoke(
        app, ["customers", "export", "--role", "supervisor", "--ids", str(customer_id)]
    )
    assert to_stdout.exit_code == 0
    assert rows_of(to_stdout.stdout)[0]["email"] == EMAIL
    assert [(role, d["via"], d["rows"]) for role, d in exports(db)] == [
        ("supervisor", "cli", 1),
        ("agent", "cli", 1),
    ]
    wrong = CliRunner().invoke(app, ["customers", "export", "--role", "boss"])
    assert wrong.exit_code != 0
