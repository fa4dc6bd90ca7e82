"""Creating a WeChat channel from the command line and the API (SQLite and PostgreSQL):
the callback URL to paste into the WeChat console, secrets kept encrypted and never shown
again, and clear errors for settings WeChat would not accept."""

from __future__ import annotations

from sqlalchemy import select, text
from typer.testing import CliRunner

from omnicx.channels.service import channel_for_token
from omnicx.cli.main import app
from omnicx.governance.models import AuditEntry
from tests.channels.wechat_helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN
from tests.factories import make_token

ACCOUNT = ["--app-id", APP_ID, "--app-secret", APP_SECRET, "--token", TOKEN]


def _run(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_the_command_prints_the_callback_url_and_keeps_the_secrets(db, monkeypatch):
    monkeypatch.setenv("OMNICX_PUBLIC_URL", "https://cx.omnishop.cn/")
    from omnicx.core.settings import reset_settings

    reset_settings()
    result = _run(
        "channels", "create", "wechat", "--name", "欧尼商城服务号", *ACCOUNT, "--aes-key", AES_KEY
    )
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    assert url.startswith("https://cx.omnishop.cn/wechat/callback/wx_")
    assert APP_SECRET not in result.output and AES_KEY not in result.output
    with db.read() as session:
        view = channel_for_token(session, url.rsplit("/", 1)[1], "wechat")
        stored = session.execute(text("SELECT secrets FROM channels")).scalar_one()
        detail = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "channel.create")
        ).one()
    assert view.settings["app_id"] == APP_ID and view.settings["api_base"] == (
        "https://api.weixin.qq.com"
    )
    assert view.secrets == {"app_secret": APP_SECRET, "token": TOKEN, "aes_key": AES_KEY}
    assert stored.startswith("v1.") and APP_SECRET not in stored and TOKEN not in stored
    assert APP_SECRET not in detail and '"aes_key"' in detail  # which, never what
    listed = _run("channels", "list")
    assert APP_ID in listed.output and APP_SECRET not in listed.output


def test_the_command_refuses_what_wechat_would_not_accept(db):
    missing = _run("channels", "create", "wechat", "--name", "服务号", "--app-id", APP_ID)
    assert missing.exit_code == 1 and "--app-secret, --token" in missing.output
    for option, value in (
        ("--token", "a b"),
        ("--aes-key", "too-short"),
        ("--api-base", "ftp://x"),
    ):
        args = [a if a != TOKEN or option != "--token" else value for a in ACCOUNT]
        extra = [] if option == "--token" else [option, value]
        result = _run("channels", "create", "wechat", "--name", "服务号", *args, *extra)
        assert result.exit_code == 1 and "error:" in result.output, (option, result.output)


def test_an_admin_creates_a_wechat_channel_over_the_api(client, db):
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    body = {
        "kind": "wechat",
        "name": "售后服务号",
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "token": TOKEN,
        "api_base": "http://127.0.0.1:9/",
    }
    created = client.post("/api/v1/channels", json=body, headers=admin)
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["snippet"] == f"http://testserver/wechat/callback/{channel['public_token']}"
    assert channel["app_id"] == APP_ID and "app_secret" not in channel
    assert channel["origins"] == [] and APP_SECRET not in created.text
    no_secret = client.post(
        "/api/v1/channels", json={**body, "name": "另一个", "app_secret": None}, headers=admin
    )
    assert no_secret.status_code == 422
    bad_key = client.post(
        "/api/v1/channels", json={**body, "name": "另一个", "aes_key": "x" * 40}, headers=admin
    )
    assert bad_key.status_code == 400 and bad_key.json()["error"]["field"] == "aes_key"
    agent = {"Authorization": f"Bearer {make_token(db, 'agent')}"}
    assert client.post("/api/v1/channels", json=body, headers=agent).status_code == 403
