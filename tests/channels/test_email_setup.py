"""Creating an email channel from the command line (SQLite and PostgreSQL): the mailbox
it answers, passwords kept encrypted and never shown again, clear errors; and the SMTP
listener started by ``omnicx channels smtp`` and by ``omnicx serve`` when
``OMNICX_SMTP_PORT`` is set, taking mail over real TCP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select, text
from typer.testing import CliRunner

from omnicx.channels.email.setup import email_channel_for
from omnicx.channels.service import view_of
from omnicx.cli.main import app
from omnicx.core.eventlog.models import EventRow
from omnicx.governance.models import AuditEntry
from tests.channels.email_helpers import customer_mail, free_port, send

SMTP_PASSWORD, IMAP_PASSWORD = "Tg7pLk2xQw9rZ4mN", "Qa8sWd3eRf6tGy1h"


def _run(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_the_command_creates_the_mailbox_and_keeps_the_passwords(db):
    result = _run(
        "channels", "create", "email", "--name", "客服邮箱", "--address", "Support@Shop.CN",
        "--smtp-host", "smtp.exmail.qq.com", "--smtp-user", "support@shop.cn",
        "--smtp-password", SMTP_PASSWORD, "--smtp-ssl",
        "--imap-host", "imap.exmail.qq.com", "--imap-user", "support@shop.cn",
        "--imap-password", IMAP_PASSWORD, "--imap-ssl",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "support@shop.cn"
    assert SMTP_PASSWORD not in result.output and IMAP_PASSWORD not in result.output
    with db.read() as session:
        channel = email_channel_for(session, "support@shop.cn")
        assert channel is not None
        view = view_of(channel)
        stored = session.execute(text("SELECT secrets FROM channels")).scalar_one()
        detail = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "channel.create")
        ).one()
    assert view.settings["smtp_host"] == "smtp.exmail.qq.com" and view.settings["smtp_port"] == 465
    assert view.settings["imap_port"] == 993 and view.settings["imap_ssl"] is True
    assert view.secrets == {"smtp_password": SMTP_PASSWORD, "imap_password": IMAP_PASSWORD}
    assert stored.startswith("v1.") and SMTP_PASSWORD not in stored
    assert SMTP_PASSWORD not in detail and '"smtp_password"' in detail
    listed = _run("channels", "list")
    assert "support@shop.cn" in listed.output and SMTP_PASSWORD not in listed.output


def test_the_command_refuses_bad_settings(db):
    no_address = _run("channels", "create", "email", "--name", "邮箱")
    assert no_address.exit_code == 1 and "--address" in no_address.output
    bad = _run("channels", "create", "email", "--name", "邮箱", "--address", "not-an-address")
    assert bad.exit_code == 1 and "support@shop.cn" in bad.output
    _run("channels", "create", "email", "--name", "邮箱", "--address", "a@shop.cn")
    again = _run("channels", "create", "email", "--name", "邮箱二", "--address", "A@shop.cn")
    assert again.exit_code == 1 and "a@shop.cn" in again.output
    both = _run(
        "channels", "create", "email", "--name", "邮箱三", "--address", "c@shop.cn",
        "--smtp-host", "smtp.shop.cn", "--smtp-starttls", "--smtp-ssl",
    )  # fmt: skip
    assert both.exit_code == 1 and "STARTTLS" in both.output
    orphan = _run(
        "channels", "create", "email", "--name", "邮箱四", "--address", "d@shop.cn",
        "--smtp-password", "x",
    )  # fmt: skip
    assert orphan.exit_code == 1 and "--smtp-host" in orphan.output


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("the SMTP listener did not start")


def _events(db) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(EventRow)) or 0)


def test_omnicx_channels_smtp_takes_mail(db, settings):
    assert _run("channels", "create", "email", "--name", "客服邮箱",
                "--address", "support@shop.cn").exit_code == 0  # fmt: skip
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "omnicx"), "channels", "smtp", "--port", str(port)],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process)
        send(port, customer_mail("通过命令启动的监听收到了吗？"))
        assert _events(db) == 1
    finally:
        process.terminate()
        process.wait(10)
    assert process.returncode == 0


def test_omnicx_serve_listens_when_omnicx_smtp_port_is_set(db, monkeypatch):
    from fastapi.testclient import TestClient

    from omnicx.core.settings import get_settings, reset_settings
    from omnicx.web.app import create_app

    assert _run("channels", "create", "email", "--name", "客服邮箱",
                "--address", "support@shop.cn").exit_code == 0  # fmt: skip
    port = free_port()
    monkeypatch.setenv("OMNICX_SMTP_PORT", str(port))
    reset_settings()
    with TestClient(create_app(get_settings(), background=False)):
        send(port, customer_mail("网站进程里的监听"))
        assert _events(db) == 1


def test_an_admin_creates_a_mailbox_over_the_api(client, db):
    from tests.factories import make_token

    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    body = {
        "kind": "email",
        "name": "售后邮箱",
        "address": "AfterSales@Shop.CN",
        "smtp": {"host": "smtp.shop.cn", "port": 587, "user": "aftersales@shop.cn",
                 "password": SMTP_PASSWORD, "starttls": True},
    }  # fmt: skip
    created = client.post("/api/v1/channels", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["snippet"] == "aftersales@shop.cn"
    assert SMTP_PASSWORD not in created.text
    listed = client.get("/api/v1/channels", headers=admin)
    assert SMTP_PASSWORD not in listed.text
    missing = client.post("/api/v1/channels", json={"kind": "email", "name": "x"}, headers=admin)
    assert missing.status_code == 422
    port = {**body, "name": "另一个", "address": "b@shop.cn",
            "smtp": {**body["smtp"], "host": "smtp shop"}}  # fmt: skip
    bad = client.post("/api/v1/channels", json=port, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "smtp_host"
    taken = client.post("/api/v1/channels", json={**body, "name": "重复"}, headers=admin)
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "address"
    agent = {"Authorization": f"Bearer {make_token(db, 'agent')}"}
    other = {**body, "name": "代理", "address": "c@shop.cn"}
    assert client.post("/api/v1/channels", json=other, headers=agent).status_code == 403
    with db.read() as session:
        assert email_channel_for(session, "c@shop.cn") is None
