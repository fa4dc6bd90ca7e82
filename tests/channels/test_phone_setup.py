"""Creating phone channels from the command line and the API (SQLite and PostgreSQL):
the webhook URL built on OMNICX_PUBLIC_URL, the secret shown once and kept encrypted,
the PBX's first signed call accepted with it; clear errors for bad options."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from omnicx.channels.service import channel_for_token
from omnicx.cli.main import app
from omnicx.core.settings import reset_settings
from omnicx.governance.models import AuditEntry
from tests.channels.phone_helpers import Phone, call, call_id, post
from tests.factories import make_token


def _run(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture
def public_url(monkeypatch) -> str:
    monkeypatch.setenv("OMNICX_PUBLIC_URL", "https://cx.omnishop.cn/")
    reset_settings()
    return "https://cx.omnishop.cn"


def test_the_command_prints_the_url_and_the_secret_once_and_keeps_it_encrypted(
    client, db, public_url
):
    result = _run(
        "channels", "create", "phone", "--name", "400 热线",
        "--extension", "8001=Zhang.Wei@omnishop.cn",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    url, secret = lines[1], lines[3]
    assert re.fullmatch(r"https://cx\.omnishop\.cn/phone/cti/ph_[\w-]+", url), result.output
    assert re.fullmatch(r"[0-9a-f]{64}", secret) and "X-OmniCX-Signature" in result.output
    token = url.rsplit("/", 1)[1]
    with db.read() as session:
        view = channel_for_token(session, token, "phone")
        stored = session.execute(text("SELECT secrets FROM channels")).scalar_one()
        detail = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "channel.create")
        ).one()
    assert view.secrets["webhook_secret"] == secret and secret not in stored
    assert view.settings["extensions"] == {"8001": "zhang.wei@omnishop.cn"}
    assert secret not in detail and json.loads(detail)["secrets"] == ["webhook_secret"]
    # The PBX signs with it, and its call is taken.
    phone = Phone(view.id, token, secret)
    answer = post(client, phone, call("answered", call_id(), agent="8001"))
    assert answer.status_code == 200, answer.text


def test_bad_options_are_clear_errors(db, public_url):
    wrong = _run("channels", "create", "phone", "--name", "热线", "--auth", "basic")
    assert wrong.exit_code != 0 and "hmac, token" in wrong.output
    bad_extension = _run("channels", "create", "phone", "--name", "热线", "--extension", "8001")
    assert bad_extension.exit_code != 0 and "8001" in bad_extension.output
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM channels")).scalar_one() == 0


def test_the_api_creates_a_token_channel_for_admins_only(public_url, client, db):
    body = {"kind": "phone", "name": "呼叫中心", "auth": "token", "region": "CN"}
    agent = {"Authorization": f"Bearer {make_token(db, 'agent')}"}
    assert client.post("/api/v1/channels", json=body, headers=agent).status_code == 403
    admin = {"Authorization": f"Bearer {make_token(db, 'admin')}"}
    created = client.post("/api/v1/channels", json=body, headers=admin)
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["kind"] == "phone" and out["snippet"].startswith("https://cx.omnishop.cn/phone/cti/")
    secret = out["identity_secret"]
    phone = Phone(out["id"], out["public_token"], secret, "token")
    assert post(client, phone, call("ringing", call_id())).status_code == 200
    listed = client.get("/api/v1/channels", headers=admin).json()
    assert secret not in json.dumps(listed)
    bad = client.post(
        "/api/v1/channels", json={**body, "name": "另一个", "auth": "x"}, headers=admin
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "auth"
