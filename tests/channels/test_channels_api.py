"""``/api/v1/channels`` and the channel service, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import text

from omnicx.channels.service import channel_for_token
from omnicx.ingest.sources import list_sources
from tests.factories import make_token


def _admin(db) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(db, 'admin')}"}


def test_an_admin_creates_a_web_chat_channel_and_gets_the_snippet(client, db):
    body = {
        "name": "官网在线客服",
        "origins": ["https://Shop.Example.cn:443/"],
        "identity_secret_generate": True,
        "prechat": True,
    }
    created = client.post("/api/v1/channels", json=body, headers=_admin(db))
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["kind"] == "webchat" and channel["origins"] == ["https://shop.example.cn"]
    assert channel["prechat"] and channel["signed_users"]
    assert len(channel["identity_secret"]) == 64
    assert channel["snippet"] == (
        f'<script src="http://testserver/widget.js" '
        f'data-omnicx-channel="{channel["public_token"]}" async></script>'
    )
    listed = client.get("/api/v1/channels", headers=_admin(db)).json()
    assert [c["name"] for c in listed] == ["官网在线客服"]
    assert "identity_secret" not in listed[0]
    with db.read() as session:
        view = channel_for_token(session, channel["public_token"])
        assert view.identity_secret == channel["identity_secret"]
        # Its own ingest source, so (source, message_id) dedupes its messages.
        assert [s.id for s in list_sources(session) if s.kind == "webchat"] == [view.source_id]
        stored = session.execute(text("SELECT secrets FROM channels")).scalar_one()
    assert channel["identity_secret"] not in stored and stored.startswith("v1.")


def test_bad_channel_input_gets_a_clear_error(client, db):
    admin = _admin(db)
    cases = [
        ({"name": "客服", "origins": ["shop.example.cn/path"]}, 400, "origins"),
        ({"name": "客服", "origins": ["https://shop.example.cn"], "kind": "fax"}, 400, "kind"),
        ({"name": "客服", "origins": []}, 422, None),
    ]
    for body, status, field in cases:
        answer = client.post("/api/v1/channels", json=body, headers=admin)
        assert answer.status_code == status, answer.text
        if field:
            assert answer.json()["error"]["field"] == field
    ok = {"name": "客服", "origins": ["https://shop.example.cn"]}
    assert client.post("/api/v1/channels", json=ok, headers=admin).status_code == 201
    again = client.post("/api/v1/channels", json=ok, headers=admin)
    assert again.status_code == 409 and again.json()["error"]["field"] == "name"


def test_the_widget_script_is_served_from_the_package(client):
    answer = client.get("/widget.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/javascript")
    assert "/widget/ws" in answer.text and "在线客服" in answer.text
    assert len(answer.content) < 16_000
