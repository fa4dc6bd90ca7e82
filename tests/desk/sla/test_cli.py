"""``omnicx sla``: calendars and policies from the command line, and ``sla due`` printing
due times across National Day, a make-up Saturday and the unannounced year 2027."""

from __future__ import annotations

from typer.testing import CliRunner

from omnicx.cli.main import app


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_calendars_policies_and_due_times(db):
    made = run("sla", "calendars", "create", "--name", "上海客服中心")
    assert made.exit_code == 0, made.output
    assert "2027" in made.stderr  # official holidays for 2027 are not known yet
    listed = run("sla", "calendars", "list")
    assert "上海客服中心" in listed.stdout and "2026-12-31" in listed.stdout
    policy = run(
        "sla",
        "policies",
        "create",
        "--name",
        "VIP 客户",
        "--calendar",
        "上海客服中心",
        "--priority",
        "urgent",
        "--first-response",
        "30m",
        "--resolution",
        "8h",
    )
    assert policy.exit_code == 0, policy.output
    assert "VIP 客户" in run("sla", "policies", "list").stdout

    def due(start: str, seconds: str) -> str:
        result = run(
            "sla", "due", "--calendar", "上海客服中心", "--from", start, "--seconds", seconds
        )
        assert result.exit_code == 0, result.output
        return result.stdout.strip()

    assert due("2026-09-30T17:00+08:00", "2h") == "2026-10-08T10:00:00+08:00"
    assert due("2026-10-09T17:00+08:00", "7200") == "2026-10-10T10:00:00+08:00"
    crossing = run(
        "sla",
        "due",
        "--calendar",
        "上海客服中心",
        "--from",
        "2026-12-31T17:00+08:00",
        "--seconds",
        "2h",
    )
    # 1 January 2027 is not known as a holiday: only the weekend is off (and we say so).
    assert crossing.stdout.strip() == "2027-01-01T10:00:00+08:00"
    assert "2027" in crossing.stderr


def test_mistakes_end_with_one_line(db):
    bad_zone = run("sla", "calendars", "create", "--name", "x", "--timezone", "Mars/Base")
    assert bad_zone.exit_code == 1 and "time zone" in bad_zone.stderr
    missing = run("sla", "due", "--calendar", "无", "--from", "2026-12-07T09:00", "--seconds", "1h")
    assert missing.exit_code == 1 and "no calendar" in missing.stderr
    assert run("sla", "due", "--calendar", "无", "--from", "x", "--seconds", "1h").exit_code == 2
