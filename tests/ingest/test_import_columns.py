"""``omnicx import`` of customer CSVs: common columns map themselves, the summary says how
each column was used, unparseable phones and emails are warnings (or rejections when
nothing else identifies the row), and a user's mistake is one line, never a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.core.errors import InvalidInput, NotFound
from omnicx.identity.service import find_customer_by_identifier
from tests.ingest.test_imports import customer, event_count, read_rejects, run_import


def test_chinese_and_english_headers_map_themselves(settings, db, tmp_path):
    source = tmp_path / "会员.csv"
    source.write_text(
        "姓名,手机号,邮箱,城市\n王芳,138 0013 8000,Wang.Fang@QQ.com,上海\n", encoding="utf-8"
    )
    code, output, summary = run_import(str(source))
    assert code == 0, output
    assert summary["accepted"] == 1, output
    flat = " ".join(output.split())
    for used in ("姓名 → name (auto)", "手机号 → phone (auto)", "邮箱 → email (auto)"):
        assert used in flat, output
    assert "城市 → 城市 (as is)" in flat
    wang = customer(db, "phone", "+8613800138000")
    assert customer(db, "email", "wang.fang@qq.com")["id"] == wang["id"]
    assert wang["traits"]["name"] == "王芳" and wang["traits"]["城市"] == "上海"

    english = tmp_path / "crm.csv"
    english.write_text(
        "Name,EMAIL,Mobile,Phone\nLi Lei,li.lei@example.com,13900139000,010 1234 5678\n",
        encoding="utf-8",
    )
    code, output, _ = run_import(str(english))
    assert code == 0, output
    flat = " ".join(output.split())
    # Mobile comes first and takes "phone"; the second phone column stays a trait.
    assert "Mobile → phone (auto)" in flat and "Phone → Phone (as is)" in flat, output
    li = customer(db, "email", "li.lei@example.com")
    assert customer(db, "phone", "+8613900139000")["id"] == li["id"]
    assert li["traits"]["Phone"] == "010 1234 5678"


def test_map_overrides_the_automatic_mapping(settings, db, tmp_path):
    source = tmp_path / "crm.csv"
    source.write_text("Name,Mobile,Tel,CRM\n张伟,13800138000,13700137000,C-9\n", encoding="utf-8")
    code, output, _ = run_import(
        str(source), "--map", "Tel=phone", "--map", "Mobile=-", "--map", "CRM=user_id"
    )
    assert code == 0, output
    flat = " ".join(output.split())
    assert "Tel → phone (--map)" in flat and "Mobile → skipped (--map)" in flat, output
    zhang = customer(db, "user_id", "C-9")
    assert customer(db, "phone", "+8613700137000")["id"] == zhang["id"]
    assert "Mobile" not in zhang["traits"]
    with db.read() as session, pytest.raises(NotFound):
        find_customer_by_identifier(session, "phone", "+8613800138000")


def test_unparseable_phones_are_warnings_or_rejections(settings, db, tmp_path):
    source = tmp_path / "crm.csv"
    source.write_text(
        "CRM,Name,Mobile,Email\n"
        "C-1,王芳,138 0013 8000,wang@example.cn\n"  # 2: fine
        "C-2,李雷,12345,\n"  # 3: bad phone, the CRM id identifies him: warning
        ",韩梅梅,不详,\n"  # 4: bad phone and nothing else: rejected
        ",刘洋,,liu@@example\n"  # 5: bad email and nothing else: rejected
        ",赵敏,,\n"  # 6: no identifier at all: rejected
        "C-7,陈静,139 1234 5678,chen.jing@\n",  # 7: bad email, good phone: warning
        encoding="utf-8",
    )
    code, output, summary = run_import(str(source), "--map", "CRM=user_id")
    assert code == 0, output
    assert summary == {"read": 6, "accepted": 3, "rejected": 3, "processed": 3}, output
    assert "2 rows imported with warnings" in " ".join(output.split()), output

    rejects = read_rejects(tmp_path / "crm.csv.rejects.jsonl")
    assert [(r["line"], r["code"]) for r in rejects] == [
        (4, "invalid_identifier"),
        (5, "invalid_identifier"),
        (6, "missing_identity"),
    ]
    assert "Mobile '不详' is not a phone number" in rejects[0]["message"]
    assert "Email 'liu@@example' is not an email address" in rejects[1]["message"]
    assert rejects[0]["row"]["Name"] == "韩梅梅"

    warnings = read_rejects(tmp_path / "crm.csv.warnings.jsonl")
    assert [(w["line"], w["code"], w["field"]) for w in warnings] == [
        (3, "invalid_phone", "Mobile"),
        (7, "invalid_email", "Email"),
    ]
    li = customer(db, "user_id", "C-2")
    assert li["traits"]["phone"] == "12345"  # kept for an agent to see and fix
    assert {i["type"] for i in li["identifiers"]} == {"user_id"}
    chen = customer(db, "phone", "+8613912345678")
    assert chen["traits"]["email"] == "chen.jing@"
    with db.read() as session, pytest.raises(InvalidInput):
        find_customer_by_identifier(session, "phone", "12345")


def test_a_gb18030_file_is_refused_in_one_line_then_read_with_encoding(settings, db, tmp_path):
    source = tmp_path / "excel.csv"
    source.write_bytes("姓名,手机\n王芳,13800138000\n".encode("gb18030"))
    code, output, _ = run_import(str(source))
    assert code == 1
    assert len(output.strip().splitlines()) == 1, output
    assert "--encoding" in output and "line 1" in output
    assert event_count(db) == 0

    code, output, _ = run_import(str(source), "--encoding", "gb18030")
    assert code == 0, output
    assert customer(db, "phone", "+8613800138000")["traits"]["name"] == "王芳"


def test_user_mistakes_in_import_are_one_line_errors(settings, db, tmp_path):
    good = tmp_path / "crm.csv"
    good.write_text("Name,Mobile\n王芳,13800138000\n", encoding="utf-8")
    mistakes = [
        ([str(tmp_path / "missing.csv")], "no file at"),
        ([str(tmp_path)], "is a directory"),
        ([str(good), "--map", "Mobile"], "COLUMN=field"),
        ([str(good), "--map", "Phone=phone"], "mapped columns not in the file: Phone"),
        ([str(good), "--kind", "orders"], "events or customers"),
        ([str(good), "--encoding", "klingon"], "unknown encoding"),
        ([str(good), "--source", "bad/name"], "--source"),
    ]
    for args, expected in mistakes:
        result = CliRunner().invoke(app, ["import", *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        assert result.exit_code == 1, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, (args, result.output)
        assert expected in result.output, (args, result.output)
    assert event_count(db) == 0
