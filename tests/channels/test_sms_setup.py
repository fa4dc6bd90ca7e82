"""Creating SMS channels from the command line and the API (SQLite and PostgreSQL): the
webhook and status callback URLs to paste into Twilio, built on OMNICX_PUBLIC_URL; keys
kept encrypted and never shown again; clear errors; the offline sink provider, whose
texts ``omnicx channels sent`` shows."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from omnicx.channels.service import channel_for_token
from omnicx.cli.main import app
from omnicx.core.settings import reset_settings
from omnicx.governance.models import AuditEntry
from omnicx.runtime.outbound import make_dispatcher
from tests.channels.sms_helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    FROM,
    Sms,
    post,
    text_form,
)
from tests.factories import make_token, process

TWILIO = ["--provider", "twilio", "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN]


def _run(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture
def public_url(monkeypatch) -> str:
    monkeypatch.setenv("OMNICX_PUBLIC_URL", "https://cx.omnishop.cn/")
    reset_settings()
    return "https://cx.omnishop.cn"


def test_the_command_prints_the_webhook_urls_and_keeps_the_keys(db, public_url):
    result = _run(
        "channels", "create", "sms", "--name", "400 短信客服", *TWILIO, "--from", "138 0000 0000"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    inbound, status = lines[-1], lines[-3]
    assert re.fullmatch(r"https://cx\.omnishop\.cn/sms/twilio/sms_[\w-]+", inbound), result.output
    assert status == inbound + "/status"
    assert AUTH_TOKEN not in result.output
    with db.read() as session:
        view = channel_for_token(session, inbound.rsplit("/", 1)[1], "sms")
        stored = session.execute(text("SELECT secrets FROM channels")).scalar_one()
        detail = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "channel.create")
        ).one()
    assert view.settings["from"] == FROM and view.settings["account_sid"] == ACCOUNT_SID
    assert view.settings["api_base_url"] == "https://api.twilio.com"
    assert view.settings["public_url"] == public_url and view.settings["region"] == "CN"
    assert view.secrets == {"auth_token": AUTH_TOKEN}
    assert stored.startswith("v1.") and AUTH_TOKEN not in stored
    assert AUTH_TOKEN not in detail and '"auth_token"' in detail  # which, never what
    listed = _run("channels", "list")
    assert "400 短信客服" in listed.output and FROM in listed.output
    assert AUTH_TOKEN not in listed.output


def test_the_command_refuses_what_twilio_would_not_accept(db):
    for args, field in (
        (["--provider", "twilio", "--auth-token", AUTH_TOKEN, "--from", FROM], "account SID"),
        ([*TWILIO], "--from"),
        ([*TWILIO, "--from", "12345"], "not a phone number"),
        ([*TWILIO, "--from", FROM, "--api-base-url", "ftp://x"], "http(s)"),
        (["--provider", "carrier-pigeon", "--from", FROM], "twilio, aliyun, sink"),
        (["--provider", "aliyun", "--access-key-id", "LTAI5tQx9Kd2"], "AccessKey secret"),
    ):
        result = _run("channels", "create", "sms", "--name", "短信", *args)
        assert result.exit_code == 1 and field in result.output, (args, result.output)
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM channels")).scalar_one() == 0


def test_the_sink_records_what_it_would_send_and_shows_it(client, db, settings, public_url):
    created = _run("channels", "create", "sms", "--name", "演示短信", "--provider", "sink",
                   "--from", FROM)  # fmt: skip
    assert created.exit_code == 0, created.output
    lines = created.output.strip().splitlines()
    token_line = lines.index(next(line for line in lines if "shown once" in line)) + 1
    sink = Sms(0, lines[-1].rsplit("/", 1)[1], auth_token=lines[token_line])
    # The demo signs its webhooks with the generated token, as Twilio would.
    assert post(client, sink, text_form("演示：我想改收货地址")).status_code == 200
    process(db)
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    [conversation] = client.get(
        "/api/v1/conversations", params={"channel": "sms"}, headers=admin
    ).json()["items"]
    replied = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"kind": "reply", "text": "好的，请回复新地址。"},
        headers=admin,
    )
    assert replied.status_code == 201
    assert make_dispatcher(db, settings).dispatch_once() == 1
    shown = _run("channels", "sent", "演示短信")
    assert shown.exit_code == 0, shown.output
    assert CUSTOMER in shown.output and "好的，请回复新地址。" in shown.output
    assert "sent" in shown.output
    with db.read() as session:
        stored = session.execute(text("SELECT body FROM sms_sink")).scalar_one()
    assert stored.startswith("v1.") and "地址" not in stored
    items = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=admin
    ).json()["items"]
    assert [m["delivery"] for m in items if m["direction"] == "out"] == ["sent"]
    assert _run("channels", "sent", "没有这个").exit_code == 1


def test_an_admin_creates_an_sms_channel_over_the_api(client, db):
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    body = {
        "kind": "sms",
        "name": "售后短信",
        "provider": "twilio",
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM,
    }
    created = client.post("/api/v1/channels", json=body, headers=admin)
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["snippet"] == f"http://testserver/sms/twilio/{channel['public_token']}"
    assert AUTH_TOKEN not in created.text and channel["identity_secret"] is None
    bad = client.post(
        "/api/v1/channels", json={**body, "name": "另一个", "account_sid": "AC12"}, headers=admin
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "account_sid"
    agent = {"Authorization": f"Bearer {make_token(db, 'agent')}"}
    assert client.post("/api/v1/channels", json=body, headers=agent).status_code == 403
