"""The seed's scenario, on SQLite and PostgreSQL: a member number the call centre passes
on that the CRM does not have opens a backfill item with an alert (the console's count,
and a signed webhook a real local server receives), counts further sightings, and
resolves by itself when the CRM import brings that number; a person may also resolve
one with a note. Agents are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from omnicx.cli.main import app as cli
from omnicx.core.settings import get_settings
from omnicx.runtime.outbound import make_dispatcher
from omnicx.web.app import create_app
from tests.desk.review.review_helpers import bearer, review_env, webhook_receiver
from tests.factories import make_source, make_token, process

MEMBER = "M2026000178"


@pytest.fixture
def hook(settings, monkeypatch):
    with webhook_receiver() as (url, received):
        review_env(monkeypatch, url)
        yield received


@pytest.fixture
def api(hook, db) -> Any:
    with TestClient(
        create_app(get_settings(), background=False), headers={"Accept-Language": "en"}
    ) as client:
        yield client


def _call_centre_event(client, key: str, member: str, n: int) -> None:
    body = {
        "type": "track",
        "event": "Call Completed",
        "messageId": f"cti-{member}-{n}",
        "anonymousId": f"caller-{n}",
        "properties": {"duration": 120, "summary": "询问积分兑换"},
        "context": {"externalIds": [{"type": "member_id", "id": member}]},
    }
    response = client.post("/v1/track", json=body, auth=(key, ""))
    assert response.status_code == 200, response.text


def test_unknown_member_opens_a_backfill_item_that_the_crm_import_resolves(
    api, db, hook, tmp_path: Path
) -> None:
    supervisor = bearer(make_token(db, "supervisor"))
    _, cti_key = make_source(db, "cti-centre")
    _call_centre_event(api, cti_key, MEMBER, 1)
    _call_centre_event(api, cti_key, MEMBER, 2)
    _call_centre_event(api, cti_key, MEMBER, 2)  # a retry: the log keeps one
    process(db)

    items = api.get("/api/v1/review/backfill", headers=supervisor).json()
    assert len(items) == 1
    item = items[0]
    assert item["identifier_type"] == "member_id"
    assert item["source"] == "cti-centre"
    assert item["events"] == 2
    assert item["status"] == "open"
    assert item["value"] is not None and item["value"] != ""
    assert api.get("/api/v1/review/counts", headers=supervisor).json() == {
        "unmatched": 0,
        "backfill": 1,
    }

    # The alert: one signed webhook through the outbox, received by a real server.
    assert make_dispatcher(db, get_settings()).dispatch_once() == 1
    assert len(hook.deliveries) == 1
    body, valid, delivery = hook.deliveries[0]
    assert valid and delivery
    assert body["type"] == "review.backfill.opened"
    assert body["item_id"] == item["id"]
    assert body["identifier_type"] == "member_id" and body["source"] == "cti-centre"
    assert MEMBER not in str(body)  # ids and kinds, never the value

    # The CRM's import brings the member: the item resolves by itself.
    csv = tmp_path / "会员.csv"
    csv.write_text(f"会员号,姓名,手机\n{MEMBER},王小明,13800138000\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["import", str(csv), "--source", "crm-members", "--map", "会员号=external:member_id"]
    )
    assert result.exit_code == 0, result.output
    process(db)
    resolved = api.get("/api/v1/review/backfill?status=all", headers=supervisor).json()
    assert [(i["id"], i["status"], i["resolved_by"]) for i in resolved] == [
        (item["id"], "resolved", "crm")
    ]
    assert api.get("/api/v1/review/counts", headers=supervisor).json()["backfill"] == 0

    # Once the CRM knows it, the call centre's next mention opens nothing.
    _call_centre_event(api, cti_key, MEMBER, 3)
    process(db)
    assert api.get("/api/v1/review/backfill", headers=supervisor).json() == []


def test_a_person_resolves_an_item_with_a_note_and_agents_are_refused(api, db) -> None:
    supervisor = bearer(make_token(db, "supervisor"))
    agent = bearer(make_token(db, "agent"))
    _, cti_key = make_source(db, "cti-centre")
    _call_centre_event(api, cti_key, "M-TEST-0001", 1)
    process(db)
    [item] = api.get("/api/v1/review/backfill", headers=supervisor).json()

    assert api.get("/api/v1/review/backfill", headers=agent).status_code == 403
    refused = api.post(
        f"/api/v1/review/backfill/{item['id']}/resolve", json={"note": "测试号"}, headers=agent
    )
    assert refused.status_code == 403
    empty = api.post(f"/api/v1/review/backfill/{item['id']}/resolve", json={}, headers=supervisor)
    assert empty.status_code == 400 and empty.json()["error"]["field"] == "note"
    done = api.post(
        f"/api/v1/review/backfill/{item['id']}/resolve",
        json={"note": "测试工号，无需补录"},
        headers=supervisor,
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved" and done.json()["note"] == "测试工号，无需补录"
    again = api.post(
        f"/api/v1/review/backfill/{item['id']}/resolve", json={"note": "再次"}, headers=supervisor
    )
    assert again.status_code == 409
    missing = api.post(
        "/api/v1/review/backfill/999999/resolve", json={"note": "x"}, headers=supervisor
    )
    assert missing.status_code == 404
