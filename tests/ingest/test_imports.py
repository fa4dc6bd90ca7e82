"""``omnicx import``: JSONL calls and CSV customers through the real command.

The command runs in-process with Typer's runner against the test's database (the
``settings`` fixture points OMNICX_HOME / OMNICX_DATABASE_URL at it), then the tests read
the events table and look customers up with the identity service, as the API would.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.core.database import Database
from omnicx.core.errors import InvalidInput, NotFound
from omnicx.core.eventlog.models import EventRow
from omnicx.customers.service import customer_360
from omnicx.governance.service import SYSTEM
from omnicx.identity.service import find_customer_by_identifier
from omnicx.ingest.imports import import_file

SUMMARY = re.compile(r"│\s*(\d+)\s*│\s*(\d+)\s*│\s*(\d+)\s*│\s*(\d+)\s*│")


def run_import(*args: str) -> tuple[int, str, dict[str, int]]:
    """Exit code, output and the summary table (read/accepted/rejected/processed)."""
    result = CliRunner().invoke(app, ["import", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    match = SUMMARY.search(result.output)
    summary = (
        dict(
            zip(
                ("read", "accepted", "rejected", "processed"), map(int, match.groups()), strict=True
            )
        )
        if match
        else {}
    )
    return result.exit_code, result.output, summary


def event_count(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(EventRow)) or 0


def customer(db: Database, kind: str, value: str) -> dict[str, Any]:
    """The 360 view (as plain data) of the customer holding an identifier."""
    with db.read() as session:
        view = customer_360(session, SYSTEM, find_customer_by_identifier(session, kind, value))
        return view.model_dump()


def read_rejects(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else orjson.dumps(line).decode() for line in lines)
        + "\n",
        encoding="utf-8",
    )
    return path


EVENTS = [
    # 1: valid identify
    {
        "type": "identify",
        "userId": "crm-1",
        "traits": {"name": "王芳", "email": "Wang.Fang@QQ.com", "phone": "139 1234 5678"},
    },
    # 2: malformed JSON
    '{"type": "track", "userId": ',
    # 3: blank line (not a row)
    "",
    # 4: valid track for the same person, timestamped
    {
        "type": "track",
        "userId": "crm-1",
        "event": "Order Completed",
        "timestamp": "2026-02-01T10:00:00Z",
        "properties": {"total": 120},
    },
    # 5: track without an event name
    {"type": "track", "userId": "crm-1"},
    # 6: valid page from an anonymous visitor, with its own messageId
    {"type": "page", "anonymousId": "anon-9", "name": "Pricing", "messageId": "page-6"},
    # 7: valid JSON but not an object
    "[1, 2, 3]",
    # 8: no identity at all
    {"type": "identify", "traits": {"email": "nobody@example.com"}},
    # 9: unknown call type
    {"type": "purchase", "userId": "crm-1"},
]


def test_jsonl_import_stores_valid_rows_and_reports_each_rejected_line(settings, db, tmp_path):
    source = write_jsonl(tmp_path / "events.jsonl", EVENTS)
    rejects = tmp_path / "rejects.jsonl"

    code, output, summary = run_import(str(source), "--rejects", str(rejects))

    assert code == 0, output
    assert summary == {"read": 8, "accepted": 3, "rejected": 5, "processed": 3}, output
    assert str(rejects.name) in output.replace("\n", "")
    found = read_rejects(rejects)
    assert [(r["line"], r["code"]) for r in found] == [
        (2, "malformed_row"),
        (5, "missing_field"),
        (7, "wrong_type"),
        (8, "missing_identity"),
        (9, "invalid_type"),
    ]
    assert all(r["message"] for r in found)
    assert found[0]["message"].startswith("malformed JSON")
    assert found[1]["field"] == "event"
    assert found[3]["field"] == "userId"
    assert found[4]["field"] == "type"
    assert event_count(db) == 3

    person = customer(db, "user_id", "crm-1")
    assert customer(db, "email", "wang.fang@qq.com")["id"] == person["id"]
    assert customer(db, "phone", "+8613912345678")["id"] == person["id"]
    assert person["traits"]["name"] == "王芳"
    assert person["event_count"] == 2
    assert customer(db, "anonymous_id", "anon-9")["id"] != person["id"]
    with db.read() as session, pytest.raises(NotFound):
        find_customer_by_identifier(session, "email", "nobody@example.com")


def test_importing_the_same_jsonl_twice_changes_nothing(settings, db, tmp_path):
    source = write_jsonl(tmp_path / "events.jsonl", EVENTS)
    rejects = tmp_path / "rejects.jsonl"
    assert run_import(str(source), "--rejects", str(rejects))[0] == 0
    stored_before = event_count(db)
    person_before = customer(db, "user_id", "crm-1")

    code, output, summary = run_import(str(source), "--rejects", str(rejects))

    assert code == 0, output
    assert summary["processed"] == 0, output
    assert event_count(db) == stored_before == 3
    person_after = customer(db, "user_id", "crm-1")
    assert person_after["event_count"] == person_before["event_count"] == 2
    assert person_after["traits"] == person_before["traits"]
    assert len(read_rejects(rejects)) == 5


def test_rows_with_null_or_empty_message_id_are_still_idempotent(settings, db, tmp_path):
    source = write_jsonl(
        tmp_path / "export.jsonl",
        [
            {"type": "track", "userId": "u-1", "event": "A", "messageId": None},
            {"type": "track", "userId": "u-1", "event": "B", "messageId": ""},
            {"type": "track", "userId": "u-1", "event": "C"},
        ],
    )
    for _ in range(2):
        code, output, _ = run_import(str(source))
        assert code == 0, output
        assert event_count(db) == 3
    assert customer(db, "user_id", "u-1")["event_count"] == 3


def test_a_file_with_only_rejected_rows_exits_non_zero(settings, db, tmp_path):
    source = write_jsonl(tmp_path / "bad.jsonl", ["not json", {"type": "track"}])
    code, output, summary = run_import(str(source))
    assert code == 1, output
    assert summary["accepted"] == 0 and summary["rejected"] == 2
    # Without --rejects the report goes next to the file.
    assert [r["line"] for r in read_rejects(tmp_path / "bad.jsonl.rejects.jsonl")] == [1, 2]
    assert event_count(db) == 0


def test_progress_counts_every_row_including_malformed_ones(settings, db, tmp_path):
    source = write_jsonl(tmp_path / "events.jsonl", EVENTS)
    ticks: list[int] = []
    report = import_file(source, 1, lambda events: None, kind="events", progress=ticks.append)
    assert (report.read, report.accepted, report.rejected) == (8, 3, 5)
    assert sum(ticks) == report.read


# -- CSV customers ----------------------------------------------------------------------------

CRM_MAP = [
    "--map",
    "Mobile=phone",
    "--map",
    "E-mail=email",
    "--map",
    "Name=name",
    "--map",
    "CRM=user_id",
]

CUSTOMERS_CSV = (
    "CRM,Name,Mobile,E-mail,City\n"
    "C-1,王芳,138 0013 8000,Wang.Fang@QQ.com,上海\n"
    "C-2,Li Lei,13900139000,not-an-email,Beijing\n"
    "C-3,Too,Many,Values,x,extra\n"
    ",Han Meimei,,han@example.com,\n"
    '"C-5","Zhang, San",13700137000,,"Guang\nzhou"\n'
    "C-6,Short\n"
)


def test_csv_import_maps_columns_to_identifiers_and_traits(settings, db, tmp_path):
    source = tmp_path / "crm.csv"
    # Excel writes a byte-order mark; the first header must still be "CRM".
    source.write_text("\ufeff" + CUSTOMERS_CSV, encoding="utf-8")
    rejects = tmp_path / "crm-rejects.jsonl"

    code, output, summary = run_import(str(source), *CRM_MAP, "--rejects", str(rejects))

    assert code == 0, output
    assert (summary["read"], summary["accepted"], summary["rejected"]) == (6, 5, 1), output
    [reject] = read_rejects(rejects)
    assert reject["line"] == 4
    assert "more values than header columns" in reject["message"]

    wang = customer(db, "user_id", "C-1")
    assert customer(db, "phone", "+8613800138000")["id"] == wang["id"]
    assert customer(db, "email", "wang.fang@qq.com")["id"] == wang["id"]
    assert wang["traits"] == {
        "name": "王芳",
        "phone": "138 0013 8000",
        "email": "Wang.Fang@QQ.com",
        "City": "上海",
    }
    assert {i["type"] for i in wang["identifiers"]} == {"user_id", "phone", "email"}

    # A row without a CRM id is still a customer, found by its email.
    han = customer(db, "email", "han@example.com")
    assert han["traits"]["name"] == "Han Meimei"
    assert han["id"] != wang["id"]

    # Quoted commas and a newline inside a quoted field are values, not extra columns.
    zhang = customer(db, "user_id", "C-5")
    assert zhang["traits"]["name"] == "Zhang, San"
    assert zhang["traits"]["City"] == "Guang\nzhou"
    # A short row imports what it has.
    assert customer(db, "user_id", "C-6")["traits"] == {"name": "Short"}


def test_invalid_email_stays_a_trait_but_never_becomes_an_identifier(settings, db, tmp_path):
    """The person is imported (the CRM id and phone are good); the bad email is kept as the
    CRM sent it, so an agent can see and fix it, but it can never link two people."""
    source = tmp_path / "crm.csv"
    source.write_text(CUSTOMERS_CSV, encoding="utf-8")
    assert run_import(str(source), *CRM_MAP)[0] == 0

    li = customer(db, "user_id", "C-2")
    assert li["traits"]["email"] == "not-an-email"
    assert customer(db, "phone", "13900139000")["id"] == li["id"]
    assert {i["type"] for i in li["identifiers"]} == {"user_id", "phone"}
    with db.read() as session, pytest.raises(InvalidInput):
        find_customer_by_identifier(session, "email", "not-an-email")


def test_importing_the_same_csv_twice_changes_nothing(settings, db, tmp_path):
    source = tmp_path / "crm.csv"
    source.write_text(CUSTOMERS_CSV, encoding="utf-8")
    assert run_import(str(source), *CRM_MAP)[0] == 0
    before = (event_count(db), customer(db, "user_id", "C-1"))
    code, output, summary = run_import(str(source), *CRM_MAP)
    assert code == 0, output
    assert summary["processed"] == 0
    after = (event_count(db), customer(db, "user_id", "C-1"))
    assert after[0] == before[0] == 5
    assert after[1]["event_count"] == before[1]["event_count"] == 1


def test_mapped_column_missing_from_header_fails_clearly(settings, db, tmp_path):
    source = tmp_path / "crm.csv"
    source.write_text(CUSTOMERS_CSV, encoding="utf-8")
    code, output, _ = run_import(str(source), *CRM_MAP, "--map", "Phone=phone")
    assert code != 0
    assert "mapped columns not in the file: Phone" in output
    assert event_count(db) == 0


@pytest.mark.parametrize("pair", ["Mobile", "=phone", "Mobile="])
def test_malformed_map_option_fails_clearly(settings, db, tmp_path, pair):
    source = tmp_path / "crm.csv"
    source.write_text(CUSTOMERS_CSV, encoding="utf-8")
    code, output, _ = run_import(str(source), "--map", pair)
    assert code != 0
    assert "COLUMN=field" in output
    assert event_count(db) == 0
