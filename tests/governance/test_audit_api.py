"""``/api/v1/audit``: filters, paging, the CSV export (itself audited) and chain checks."""

from __future__ import annotations

import csv
import io
from datetime import timedelta, timezone

from sqlalchemy import update

from omnicx.core.time import utcnow
from omnicx.governance.audit import record
from omnicx.governance.models import AuditEntry
from omnicx.governance.service import Principal
from tests.factories import make_token, token_actor

LI = Principal(kind="user", id=7, name="li@corp.cn", role="supervisor")
ETL = Principal(kind="token", id=3, name="etl", role="admin")


def seed(db):
    with db.write() as session:
        record(session, LI, "customer.view", target_type="customer", target_id=1)
        record(
            session,
            LI,
            "customer.reveal",
            target_type="customer",
            target_id=1,
            detail={"field": "phone"},
            ip="198.51.100.4",
        )
        record(session, ETL, "customer.view", target_type="customer", target_id=2)
        record(session, LI, "customers.export", target_type="customer", target_id=2)
        # A value that reads as a spreadsheet formula must not run as one in the export.
        record(session, ETL, "source.create", target_type="source", target_id="=HYPERLINK(1)")


def get(client, token, path="/api/v1/audit", **params):
    return client.get(path, headers={"Authorization": f"Bearer {token}"}, params=params)


def test_filters_and_paging(client, db):
    token = make_token(db, "supervisor")
    seed(db)
    by_actor = get(client, token, actor="user:li@corp.cn").json()["entries"]
    assert [e["action"] for e in by_actor] == [
        "customers.export",
        "customer.reveal",
        "customer.view",
    ]
    # "customer." is a prefix: it does not match "customers.export".
    prefixed = get(client, token, action="customer.").json()["entries"]
    assert sorted(e["action"] for e in prefixed) == [
        "customer.reveal",
        "customer.view",
        "customer.view",
    ]
    exact = get(client, token, action="customer.reveal").json()["entries"]
    assert exact[0]["detail"] == {"field": "phone"} and exact[0]["ip"] == "198.51.100.4"
    target = get(client, token, target_type="customer", target_id="2").json()["entries"]
    assert {e["actor"] for e in target} == {"token:3:etl", "user:li@corp.cn"}
    first = get(client, token, limit=2).json()
    assert len(first["entries"]) == 2 and first["next_before_id"] is not None
    rest = get(client, token, limit=2, before_id=first["next_before_id"]).json()
    ids = [e["id"] for e in first["entries"] + rest["entries"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    assert get(client, token, limit=501).status_code == 422


def test_time_filters_compare_in_utc(client, db):
    token = make_token(db, "supervisor")
    seed(db)
    now = utcnow()
    with db.write() as session:
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.action == "customer.reveal")
            .values(at=now - timedelta(hours=52))
        )
    # Bounds written in China time (+08:00) must be converted before comparing: read as
    # wall-clock text they would be 8 hours off and miss the entry.
    china = timezone(timedelta(hours=8))
    since = (now - timedelta(hours=54)).astimezone(china).isoformat()
    until = (now - timedelta(hours=50)).astimezone(china).isoformat()
    window = get(client, token, since=since, until=until).json()["entries"]
    assert [e["action"] for e in window] == ["customer.reveal"]
    backwards = get(client, token, since="2026-05-02T00:00:00", until="2026-05-01T00:00:00")
    assert backwards.status_code == 400 and backwards.json()["error"]["field"] == "since"
    assert get(client, token, since="yesterday").status_code == 422


def test_the_csv_export_is_complete_safe_and_itself_audited(client, db):
    token = make_token(db, "admin")
    seed(db)
    response = get(client, token, "/api/v1/audit/export.csv", actor="user:li@corp.cn")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["action"] for r in rows] == ["customers.export", "customer.reveal", "customer.view"]
    assert rows[1]["detail"] == '{"field":"phone"}' and len(rows[1]["hash"]) == 64
    everything = get(client, token, "/api/v1/audit/export.csv", action="source.create").text
    (formula,) = csv.DictReader(io.StringIO(everything))
    assert formula["target_id"] == "'=HYPERLINK(1)"
    exports = get(client, token, action="audit.export").json()["entries"]
    assert len(exports) == 2 and exports[1]["detail"] == {"actor": "user:li@corp.cn"}
    assert exports[0]["actor"] == token_actor(db)


def test_verify_reports_a_modified_row(client, db):
    token = make_token(db, "supervisor")
    seed(db)
    assert get(client, token, "/api/v1/audit/verify").json() == {
        "ok": True,
        "checked": 6,
        "broken_at": None,
        "problem": None,
    }
    with db.write() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == 3).values(ip="10.0.0.1"))
    report = get(client, token, "/api/v1/audit/verify").json()
    assert report["ok"] is False and report["broken_at"] == 3 and report["checked"] == 2
